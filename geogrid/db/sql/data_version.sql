-- A cheap fingerprint of everything tiles and features are drawn from.
-- Publishing or rolling back changes published_at/retired_at (and re-assigns addresses),
-- saving or deleting a draft changes max(id)/count, loading addresses adds ids, loading
-- divisions changes their count/created_at.  plans and divisions are small; addresses only
-- use their primary key index.  Read by every tile request so that tile caches of several
-- server processes notice a publish made by any of them.
SELECT concat_ws(':',
    count(*), max(p.id), max(p.published_at), max(p.retired_at),
    count(*) FILTER (WHERE p.status = 'published'),
    (SELECT max(id) FROM addresses),
    (SELECT concat_ws(',', count(*), max(created_at)) FROM divisions))
FROM plans p
