-- A new incident.  Its idempotency key (if any) is claimed first in incident_keys: ON CONFLICT
-- makes a concurrent retry with the same key wait for the first insert and then do nothing,
-- so no incident row is written and nothing is returned, instead of failing or inserting twice.
-- The trigger incidents_register writes the id into incident_ids in this same statement.
WITH claimed AS (
    INSERT INTO incident_keys (key, hash, incident_id)
    SELECT CAST(:ikey AS text), :ihash, nextval('incidents_id_seq')
    WHERE CAST(:ikey AS text) IS NOT NULL
    ON CONFLICT (key) DO NOTHING
    RETURNING incident_id
), new_id AS (
    SELECT incident_id AS id FROM claimed
    UNION ALL
    SELECT nextval('incidents_id_seq') WHERE CAST(:ikey AS text) IS NULL
)
INSERT INTO incidents (
    id, category_major, category_minor, description, source, location, address_text, h3_cell,
    grid_code, village_code, township_code, centre_code, level, reporter_name, reporter_contact,
    reporter_key_name, accept_due, complete_due, created_at, updated_at
)
SELECT
    new_id.id, :major, :minor, :description, :source, ST_SetSRID(ST_Point(:lon, :lat), 4326), :address, :cell,
    :grid, :village, :township, :centre, :level, :rname, :rcontact,
    :rkey, :adue, :cdue, :now, :now
FROM new_id
RETURNING id
