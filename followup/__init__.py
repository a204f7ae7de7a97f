"""Follow-up: what each förvaltning did with the calls (decisions), the policy's benefit and
risk analysis, reminders for pursued calls, and the yearly report to kommunstyrelsen."""
