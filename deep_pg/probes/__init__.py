"""The paper's probes (gradient, value, baselines, landscape, trust_region); see docs/probes.md."""
