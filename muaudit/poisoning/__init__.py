"""Poisoning-based unlearning audits (Pawelczyk et al., ICLR 2025)."""
