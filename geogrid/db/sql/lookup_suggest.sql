-- Type-ahead: streets and standard addresses starting with what was typed, in one statement.
-- prefix = LIKE pattern on the normalised street / short address (``人民路1%%``) or null;
-- initials = LIKE pattern on their pinyin initials (``rml%%``) or null;
-- township, village = normalised names the text began with (filters) or null;
-- n = suggestions of each kind.  Prefix patterns use the text_pattern_ops btrees of
-- migration 0006.  Streets come grouped per village, with how many addresses they carry.
WITH streets AS (
    SELECT 'street' AS kind, a.street_key AS key, min(coalesce(a.street, a.street_key)) AS text,
           a.division_code, count(*)::int AS addresses, NULL::text AS address_id, NULL::text AS full_text
    FROM addresses a
    WHERE (a.street_key LIKE %(prefix)s OR a.street_initials LIKE %(initials)s)
      AND (%(township)s::text IS NULL OR a.township_key = %(township)s)
      AND (%(village)s::text IS NULL OR a.village_key = %(village)s)
    GROUP BY a.street_key, a.division_code
    ORDER BY length(a.street_key), a.street_key, a.division_code
    LIMIT %(n)s
),
places AS (
    SELECT 'address' AS kind, a.short_text AS key,
           coalesce(nullif(concat(a.street, a.house_number, a.compound, a.building), ''), a.full_text) AS text,
           a.division_code, 1 AS addresses, coalesce(a.source_id, a.id::text) AS address_id, a.full_text
    FROM addresses a
    WHERE (a.short_text LIKE %(prefix)s OR a.short_initials LIKE %(initials)s)
      AND (%(township)s::text IS NULL OR a.township_key = %(township)s)
      AND (%(village)s::text IS NULL OR a.village_key = %(village)s)
    ORDER BY length(a.short_text), a.short_text, a.id
    LIMIT %(n)s
),
hits AS (
    SELECT *, 0 AS rank FROM streets
    UNION ALL
    SELECT *, 1 AS rank FROM places
)
SELECT h.kind, h.text, h.addresses, h.address_id, h.full_text,
       h.division_code, v.name, t.code, t.name
FROM hits h
LEFT JOIN divisions v ON v.code = h.division_code
LEFT JOIN divisions t ON t.code = coalesce(v.parent_code, left(h.division_code, 9) || '000')
                     AND t.level = 'township'
ORDER BY h.rank, length(h.key), h.key, h.division_code
