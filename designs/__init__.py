"""Model-based designs and bounds (task-based combiners, rate-distortion limits).

Empty for now: the Theorem 3 design, the bounds and BLMMSE arrive with the
channel-estimation work. Their inputs (second-order statistics of the pilot model)
are already provided by :meth:`hwsim.channels.PilotChannel.stats`.
"""
