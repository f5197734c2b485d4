"""Mail: an outbox in the database, sent by a deliverer over SMTP (or shown on the console).

A service that causes a mail calls `outbox.queue(...)` inside its own
transaction: the mail exists exactly when its cause was saved. The deliverer
(`flask --app wsgi mail deliver --loop`) claims due mails with a lease, sends
them with retries and backoff, and wipes each message once it is settled.
Mails carry no health information: only what the person needs to act, and a link.
"""
