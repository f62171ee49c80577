"""Dates and times as Salesforce shows them to a US English org ("12/1/2026, 3:39 PM"):
shorter than Django's "Dec. 1, 2026, 3:39 p.m.", so list columns stay narrow. Only the
display formats: what a form accepts stays Django's."""

DATE_FORMAT = "n/j/Y"
SHORT_DATE_FORMAT = "n/j/Y"
DATETIME_FORMAT = "n/j/Y, g:i A"
SHORT_DATETIME_FORMAT = "n/j/Y, g:i A"
TIME_FORMAT = "g:i A"
MONTH_DAY_FORMAT = "F j"
YEAR_MONTH_FORMAT = "F Y"
