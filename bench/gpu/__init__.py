"""`make gpu-check`: the CUDA path measured at the paper's scale (a Llama-7B-shaped model with a
planted super weight) and on the real embedded model; `--tiny` runs the same pipeline on the CPU
in seconds, so the check never rots. See docs/gpu.md."""
