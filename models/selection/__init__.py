"""Who got a loan: the propensity of being lent, the support behind a formula, inverse-propensity weights and
reject inference (``propensity``, ``correct``, ``analysis``)."""
