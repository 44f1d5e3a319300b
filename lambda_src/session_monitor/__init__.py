"""Athena for Apache Spark session monitor: the Lambda function's code.

Layout (one job per module):
- ``entry``: the Lambda handler; recognises the event shape and routes it.
- ``api``: the API Gateway REST routes (Powertools Event Handler), imported only for API events.
- ``monitor`` / ``sweep``: the use cases (check one session, list a workgroup, sweep workgroups).
- ``model``, ``alerting``, ``validation``, ``errors``: pure domain code, no AWS SDK.
- ``integration``: the only modules that talk to AWS (Athena, SNS, DynamoDB).
"""
