-- A new incident.  ON CONFLICT makes a concurrent retry with the same idempotency key wait for
-- the first insert and then do nothing, instead of failing or inserting twice.
INSERT INTO incidents (
    category_major, category_minor, description, source, location, address_text, h3_cell,
    grid_code, village_code, township_code, centre_code, level, reporter_name, reporter_contact,
    reporter_key_name, idempotency_key, idempotency_hash, accept_due, complete_due, created_at, updated_at
)
VALUES (
    :major, :minor, :description, :source, ST_SetSRID(ST_Point(:lon, :lat), 4326), :address, :cell,
    :grid, :village, :township, :centre, :level, :rname, :rcontact,
    :rkey, :ikey, :ihash, :adue, :cdue, :now, :now
)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
