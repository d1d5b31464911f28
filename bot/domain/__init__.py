"""Program rules with state: enrolment, nudge drafts and approval, escalations, research export."""
