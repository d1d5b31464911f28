"""The scheduler: periodic jobs and the outbox sender.

`scheduler.jobs` holds the job functions, `scheduler.runner` runs them under
APScheduler in the one active scheduler process, `scheduler.sender` drains the
outbox, and `peerline tick --at` runs the same functions once.
"""
