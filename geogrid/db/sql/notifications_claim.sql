-- Claim a batch of notifications due at the given time for one worker: pending ones whose next
-- attempt is due, and ones another worker claimed but whose lease ran out (it died).
-- SKIP LOCKED: two workers claiming at once take different rows.
UPDATE notifications n
SET status = 'sending', lease_until = :lease, attempts = n.attempts + 1
FROM (
    SELECT id FROM notifications
    WHERE (status = 'pending' AND next_attempt_at <= :now)
       OR (status = 'sending' AND lease_until < :now)
    ORDER BY next_attempt_at, id
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
) due
WHERE n.id = due.id
RETURNING n.id, n.event_key, n.payload, n.attempts
