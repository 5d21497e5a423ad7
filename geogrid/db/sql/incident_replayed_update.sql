-- The columns of replayed incidents, from the temporary table "replayed" (text columns).
UPDATE incidents i
SET status = r.status,
    level = r.level,
    department = r.department,
    assignee = r.assignee,
    centre_code = r.centre_code,
    accepted_at = CAST(r.accepted_at AS timestamptz),
    resolved_at = CAST(r.resolved_at AS timestamptz),
    closed_at = CAST(r.closed_at AS timestamptz),
    updated_at = CAST(r.updated_at AS timestamptz)
FROM replayed r
WHERE i.id = r.id
