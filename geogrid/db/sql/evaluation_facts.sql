-- The facts evaluation reads of each incident reported in the period: where it is,
-- who has it, whether it was accepted and completed (on time), reopened, overdue now,
-- and the verdict of its latest follow-up (回访).  {where} holds bound filters over alias i.
-- Merged duplicates never count: their report lives on in the incident they joined.
SELECT i.id, i.public_id, i.grid_code, i.village_code, i.township_code, i.centre_code, i.department,
       i.reporter_key_name,
       to_char(i.created_at AT TIME ZONE :tz, 'YYYY-MM') AS month,
       i.accepted_at IS NOT NULL AS accepted,
       coalesce(i.accepted_at <= i.accept_due, false) AS accepted_on_time,
       i.resolved_at IS NOT NULL AS completed,
       coalesce(i.resolved_at <= i.complete_due, false) AS completed_on_time,
       EXISTS (SELECT 1 FROM incident_history h WHERE h.incident_id = i.id AND h.action = 'reopen') AS reopened,
       ((i.status = 'reported' AND i.accept_due < :now)
        OR (i.status = ANY(CAST(:open_statuses AS text[])) AND i.complete_due < :now)) AS overdue,
       (SELECT f.verdict FROM incident_followups f
        WHERE f.incident_id = i.id AND f.verdict IS NOT NULL ORDER BY f.at DESC, f.id DESC LIMIT 1) AS verdict
FROM incidents i
WHERE i.status <> 'merged' AND i.created_at >= :p_start AND i.created_at < :p_end {where}
