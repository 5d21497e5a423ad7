-- Residents with their household, house and address: the rows every register read answers.
-- The caller appends its WHERE clause (coverage, filters) with bound parameters.
SELECT r.id, r.name, r.id_masked, r.phone, r.relation, r.tags, h.code AS household_code,
       ho.code AS house_code, a.source_id AS address_id, a.full_text, a.grid_code, a.division_code
FROM register_residents r
JOIN register_households h ON h.id = r.household_id
JOIN register_houses ho ON ho.id = h.house_id
JOIN addresses a ON a.id = h.address_id
