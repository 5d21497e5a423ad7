-- 督办 on the incidents of evaluation_facts.sql: one row per supervision with whom it aimed at.
SELECT sv.incident_id AS id, sv.target_kind, sv.target_code
FROM supervisions sv
JOIN incidents i ON i.id = sv.incident_id
WHERE i.status <> 'merged' AND i.created_at >= :p_start AND i.created_at < :p_end {where}
