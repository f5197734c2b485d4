"""gunicorn settings read from the working directory (`gunicorn wsgi:app`).

The access log line leaves out the query string (%(U)s is the path alone):
search pages carry names in it (`/clinic/?q=...`), and logs hold no health
information. Command-line flags still override anything here.
"""

access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
