"""Golden numbers of the embedded model (SmolLM2-135M-Instruct, fp32 on the CPU), in one place.

Measured on this project's cache of the model; every test that checks the embedded model by a
known coordinate or size reads it from here, so a change of model or cache changes one file.
"""

LAYERS = 30
HIDDEN = 576  # residual stream width = down projection rows
INTERMEDIATE = 1536  # down projection columns
SPIKE_LAYER = 11
SPIKE_CHANNEL = 507  # the super activation's residual channel (the super weights' row)
SPIKE_TOKEN = 0
MAIN_SUPER_WEIGHT = (11, 507, 1229)  # the larger share of the spike (~73%)
SUPER_WEIGHTS = ((11, 507, 1229), (11, 507, 1487))
CANCELLING_LAYERS = (28, 29)  # late layers that remove the super activation
