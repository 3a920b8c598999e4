"""``frontguard doctor``: does a deployment really work? Checks with the caller's credentials.

``records`` (the CloudTrail records the rules must match, pure), ``checks`` (one function per
area; clients in, :class:`~frontguard.doctor.report.Check` results out), ``report`` (table and
JSON).
"""
