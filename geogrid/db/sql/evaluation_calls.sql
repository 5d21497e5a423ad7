-- 吹哨报到 calls on the incidents of evaluation_facts.sql: one row per summoned department,
-- whether it checked in by the summons' report-in deadline.
SELECT s.incident_id AS id, sd.department_code AS department,
       coalesce(sd.checked_in_at <= s.report_due, false) AS on_time
FROM summons s
JOIN summon_departments sd ON sd.summon_id = s.id
JOIN incidents i ON i.id = s.incident_id
WHERE i.status <> 'merged' AND i.created_at >= :p_start AND i.created_at < :p_end {where}
