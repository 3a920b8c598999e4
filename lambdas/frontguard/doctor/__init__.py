"""``frontguard doctor``: does a deployment really work? Checks with the caller's credentials.

``records`` (the CloudTrail records the rules must match, pure), ``deployment`` (what the
stack's outputs say), one module per area (``trail``, ``rules``, ``alerting``, ``functions``,
``channels``, ``clusters``, ``born``; clients in, :class:`~frontguard.doctor.report.Check`
results out; none imports another: .importlinter doctor-areas), ``checks`` (the run over every
area) and ``report`` (table and JSON).
"""
