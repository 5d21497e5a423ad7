-- Record the flag each open deadline shows at the given time (red past due, yellow once the
-- given share of its time has passed), once per incident, deadline, subject and colour; the new ones come back.
WITH deadlines AS (
    SELECT i.id AS incident_id, 'accept' AS deadline, '' AS subject, i.created_at AS start, i.accept_due AS due
    FROM incidents i WHERE i.status = 'reported'
    UNION ALL
    SELECT i.id, 'complete', '', i.created_at, i.complete_due
    FROM incidents i WHERE i.status = ANY(CAST(:open AS text[]))
    UNION ALL
    SELECT s.incident_id, 'report_in', sd.department_code, s.called_at, s.report_due
    FROM summons s JOIN summon_departments sd ON sd.summon_id = s.id
    WHERE s.status = 'open' AND sd.checked_in_at IS NULL
    UNION ALL
    SELECT s.incident_id, 'act', sd.department_code, s.called_at, s.act_due
    FROM summons s JOIN summon_departments sd ON sd.summon_id = s.id
    WHERE s.status = 'open' AND sd.acted_at IS NULL
    UNION ALL
    SELECT v.incident_id, 'supervise', CAST(v.id AS text), v.created_at, v.due
    FROM supervisions v JOIN incidents i ON i.id = v.incident_id
    WHERE v.due IS NOT NULL AND i.status = ANY(CAST(:open AS text[]))
),
coloured AS (
    SELECT d.*,
           CASE WHEN CAST(:now AS timestamptz) > d.due THEN 'red'
                WHEN CAST(:now AS timestamptz) >= d.start + (d.due - d.start) * CAST(:yellow_at AS float8) THEN 'yellow'
           END AS colour
    FROM deadlines d
)
INSERT INTO deadline_flags (incident_id, deadline, subject, colour, due, raised_at)
SELECT incident_id, deadline, subject, colour, due, :now FROM coloured WHERE colour IS NOT NULL
ON CONFLICT ON CONSTRAINT ux_deadline_flags_once DO NOTHING
RETURNING incident_id, deadline, subject, colour, due
