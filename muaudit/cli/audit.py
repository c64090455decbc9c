"""``muaudit lira`` and ``muaudit report``."""

from __future__ import annotations

import click

from muaudit.attacks.presets import AUDIT_PRESETS
from muaudit.checks import check_int_range
from muaudit.cli.common import SEED, Checked, echo_json, progress_factory, verdict_options
from muaudit.cli.target_options import device_option, input_options, query_options
from muaudit.paths import prepare_output_file
from muaudit.report.figure_worker import start_figure_worker

SECRET_VIEWS = Checked(click.INT, lambda name, v: check_int_range(name, v, 0, 64), "integer in [0, 64]")
TARGET_HELP = ("Checkpoint, raw state_dict (.pt or .safetensors), TorchScript, ONNX, logits .npy, or a deployed "
               "model's URL http(s)://HOST:PORT/v2/models/NAME (Open Inference Protocol).")


@click.command("lira")
@click.option("--target", required=True, type=click.Path(), help=TARGET_HELP)
@click.option("--forget", required=True, type=click.Path(), help="Training-split positions claimed unlearned (.npy).")
@click.option("--pool", type=click.Path(), help="Shadow pool directory (default: $MUAUDIT_POOL).")
@click.option("--arch", help="Architecture of a raw state_dict (default: the pool's, if built-in); a factory pkg.mod:fn is imported only when named here.")
@click.option("--nonmembers", type=click.Path(), help="Known non-members (.npy, training-split positions); default: the test split.")
@click.option("--train-idx", type=click.Path(), help="The target's training positions (.npy), for the power control.")
@click.option("--attack", type=click.Choice(AUDIT_PRESETS), default="online", show_default=True,
              help="online/offline LiRA or rmia on the pool's shadows; qmia: quantile regression on half of the non-members, no shadows (the pool gives only the dataset).")
@click.option("--method", help="The unlearning method the target used: U-LiRA with the pool's unlearned shadows of it.")
@click.option("--secret-views", type=SECRET_VIEWS, default=0, show_default=True,
              help="Query every example under N random views drawn for this audit only (shifts + noise; seed recorded after the audit), so the provider cannot recognise the forget examples; models and endpoints only, needs a pool built with save_weights = true.")
@verdict_options
@click.option("--out", type=click.Path(file_okay=False), help="Results folder (default: a new one under results/).")
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout.")
@input_options
@device_option
@query_options
def lira(target, forget, pool, arch, nonmembers, train_idx, attack, method, secret_views, alpha, max_residual, out, as_json,
         input_layout, input_mean, input_std, device, **query):
    """Audit whether TARGET still treats the FORGET examples as training members."""
    start_figure_worker()  # before the heavy imports: matplotlib loads beside them
    from muaudit.jobs import run_lira
    from muaudit.report import summary_text

    results, out_dir = run_lira(target=target, forget=forget, pool=pool, arch=arch, nonmembers=nonmembers,
                                train_idx=train_idx, attack=attack, alpha=alpha, max_residual=max_residual, out=out,
                                method=method, secret_views=secret_views,
                                input_layout=input_layout, input_mean=input_mean, input_std=input_std, device=device,
                                **query)
    if as_json:
        echo_json(results)
    else:
        click.echo(summary_text(results))
        click.echo(f"Results written to {out_dir}/")


@click.command("mia")
@click.option("--target", required=True, type=click.Path(), help=TARGET_HELP)
@click.option("--forget", required=True, type=click.Path(), help="Training-split positions claimed unlearned (.npy).")
@click.option("--pool", type=click.Path(), help="Pool whose dataset to use (default: $MUAUDIT_POOL, else the checkpoint's meta).")
@click.option("--arch", help="Architecture of a raw state_dict (default: the pool's, if built-in); a factory pkg.mod:fn is imported only when named here.")
@click.option("--nonmembers", type=click.Path(), help="Known non-members (.npy, training-split positions); default: the test split.")
@click.option("--train-idx", type=click.Path(), help="The target's training positions (.npy), for the power control.")
@verdict_options
@click.option("--out", type=click.Path(file_okay=False), help="Results folder (default: a new one under results/).")
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout.")
@input_options
@device_option
@query_options
def mia(target, forget, pool, arch, nonmembers, train_idx, alpha, max_residual, out, as_json, input_layout, input_mean, input_std,
        device, **query):
    """Population MIAs (LOSS, Deep Unlearn's logistic regression, SalUn's SVC) on the FORGET set."""
    start_figure_worker()
    from muaudit.jobs.mia import run_mia
    from muaudit.report import summary_text

    results, out_dir = run_mia(target=target, forget=forget, pool=pool, arch=arch, nonmembers=nonmembers,
                               train_idx=train_idx, alpha=alpha, max_residual=max_residual, out=out,
                               input_layout=input_layout,
                               input_mean=input_mean, input_std=input_std, device=device, **query)
    if as_json:
        echo_json(results)
        return
    p = results["population_mia"]
    click.echo(summary_text(results))
    click.echo(f"Deep Unlearn MIA: accuracy {p['logistic_regression_accuracy']:.3f}, indiscernibility "
               f"{p['indiscernibility']:.3f}" + (f"; SalUn SVC-MIA efficacy {p['svc_mia_efficacy']:.3f}" if "svc_mia_efficacy" in p else ""))
    click.echo(f"Results written to {out_dir}/")


@click.command("report")
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--html", "as_html", is_flag=True, help="Render one self-contained HTML page.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="HTML file (default: FOLDER/report.html for one folder, ./report.html for several).")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), help="Write the overview, one row per folder, as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print the overview rows (and the files written) as JSON.")
def report(folders, as_html, out, csv_out, as_json):
    """Summarise one or more results folders; --html renders them into one page, --csv a table."""
    from muaudit.report import overview, read_results, render_html, summary_text, write_csv
    from muaudit.report.html import default_html_out
    from muaudit.report.members import check_report_outputs

    html_out = out or (str(default_html_out(folders)) if as_html else None)
    check_report_outputs(folders, {"--out": html_out, "--csv": csv_out})  # never over a file it reads
    for path in (out, csv_out):
        if path is not None:
            prepare_output_file(path)
    rows = overview(list(folders))
    html = str(render_html(list(folders), html_out)) if as_html else None
    table = str(write_csv(list(folders), csv_out)) if csv_out else None
    if as_json:
        return echo_json({"folders": rows, "html": html, "csv": table})
    for folder in folders:
        click.echo(f"{folder}: {summary_text(read_results(folder)[0])}")
    if html:
        click.echo(f"HTML report: {html}")
    if table:
        click.echo(f"CSV table: {table}")


COMMANDS = [lira, mia, report]


@click.command("demo")
@click.option("--recipe", default="digits-mlp", show_default=True,
              help="A packaged recipe's name or a recipe TOML file.")
@click.option("--pool", type=click.Path(file_okay=False),
              help="Pool directory (default: ./shadow_models/NAME/ for a packaged recipe, else beside the recipe).")
@click.option("--out", type=click.Path(file_okay=False), default="results/demo", show_default=True)
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print every target's results and the report path as JSON.")
def demo(recipe, pool, out, seed, as_json):
    """End-to-end audit on built-in digits: pool, original / retrained / FT-unlearned targets, LiRA
    (and U-LiRA when the pool has unlearned shadows), HTML report."""
    from muaudit.execution import make_executor
    from muaudit.jobs.demo import run_demo
    from muaudit.report import summary_text

    with make_executor("local") as ex:  # a pool still to build: one worker process per core
        results = run_demo(recipe=recipe, pool=pool, out=out, random_state=seed, progress_for=progress_factory(),
                           log=lambda line: click.echo(line, err=as_json), executor=ex)
    if as_json:
        return echo_json(results)
    for name in ("original", "retrained", "ft-unlearned", "ulira"):
        if name in results:
            click.echo(f"\n[{name}] {summary_text(results[name])}")
    click.echo(f"\nHTML report: {results['report']}")


COMMANDS.append(demo)
