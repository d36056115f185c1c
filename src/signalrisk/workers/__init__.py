"""Code that runs on the compute resources: Lambda handlers and the worker HTTP app.

Nothing here reads the service's settings or database: a worker gets everything it needs from
its payload and its environment, so the same code runs in a local process, in AWS Lambda and on
an EC2 instance.
"""
