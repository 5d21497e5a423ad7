-- Workflow counts per group and period.  {key} and {period} are whitelisted expressions
-- (geogrid.db.incidents._STAT_KEYS / _STAT_PERIODS); {where} holds bound filters.
-- Merged duplicates are not counted: their report lives on in the incident they joined.
SELECT {key} AS key,
       {period} AS period,
       count(*) AS total,
       count(*) FILTER (WHERE i.accepted_at IS NOT NULL) AS accepted,
       count(*) FILTER (WHERE i.accepted_at <= i.accept_due) AS accepted_on_time,
       count(*) FILTER (WHERE i.resolved_at IS NOT NULL) AS completed,
       count(*) FILTER (WHERE i.resolved_at <= i.complete_due) AS completed_on_time,
       count(*) FILTER (WHERE i.status = 'closed') AS closed,
       count(*) FILTER (WHERE i.status = 'rejected') AS rejected,
       count(*) FILTER (WHERE i.status = 'reported' AND i.accept_due < :now) AS accept_overdue,
       count(*) FILTER (WHERE i.status = ANY(CAST(:open_statuses AS text[])) AND i.complete_due < :now) AS complete_overdue,
       count(*) FILTER (
           WHERE (i.status = 'reported' AND i.accept_due < :now)
              OR (i.status = ANY(CAST(:open_statuses AS text[])) AND i.complete_due < :now)) AS overdue
FROM incidents i
WHERE i.status <> 'merged' {where}
GROUP BY 1, 2
ORDER BY 2, 1
