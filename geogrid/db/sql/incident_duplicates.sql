-- Open incidents of the same minor category near the given one and close in time.
-- The geometry pre-filter (radius_deg, generous) lets the GiST index work; the geography
-- distance is the exact test in metres.  {visible} limits the others to what the caller may
-- see (bound parameters only).
SELECT o.public_id, o.category_minor, o.status, o.created_at, o.description,
       ST_X(o.location) AS lon, ST_Y(o.location) AS lat,
       ST_Distance(o.location::geography, i.location::geography) AS distance_m
FROM incidents i
JOIN incidents o
  ON o.id <> i.id
 AND o.category_minor = i.category_minor
 AND o.status NOT IN ('merged', 'rejected', 'closed')
 AND o.location && ST_Expand(i.location, :radius_deg)
 AND ST_DWithin(o.location::geography, i.location::geography, :radius_m)
 AND o.created_at BETWEEN i.created_at - make_interval(secs => :window_s)
                      AND i.created_at + make_interval(secs => :window_s)
WHERE i.public_id = :public_id {visible}
ORDER BY distance_m, o.created_at
LIMIT :limit
