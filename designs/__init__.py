"""Model-based designs and bounds.

- :mod:`~hwsim.designs.task_based`: Lemma 2 and Theorem 3 of the task-based quantization survey
  (linear tasks, uniform scalar ADCs);
- :mod:`~hwsim.designs.bounds`: Gaussian rate-distortion limits, the indirect bound and seed 001 eq. (7).
"""
