PRAGMA synchronous=OFF;
PRAGMA journal_mode=WAL;
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, price REAL, note TEXT);
CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000)
INSERT INTO item(id, name, grp, price, note)
  SELECT x, printf('item-%06d', x), (x * 7919) % 97, (x % 1000) / 7.0,
         substr(hex(x * x), 1, (x % 40) + 1) || printf('%.*c', x % 300, 'z')
  FROM c;
WITH RECURSIVE g(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM g WHERE x < 96)
INSERT INTO grp SELECT x, 'group ' || x FROM g;
COMMIT;
CREATE INDEX item_grp ON item(grp, price);
CREATE INDEX item_note ON item(note);
SELECT count(*), sum(grp), round(sum(price), 3), max(length(note)) FROM item;
SELECT grp, count(*), round(avg(price), 4), min(name), max(name) FROM item GROUP BY grp ORDER BY grp LIMIT 20;
SELECT g.label, count(i.id), round(total(i.price), 2)
  FROM grp g JOIN item i ON i.grp = g.id WHERE i.price > 50 GROUP BY g.id ORDER BY 3 DESC LIMIT 10;
SELECT name, price, rank() OVER (PARTITION BY grp ORDER BY price DESC, id) AS r
  FROM item WHERE grp IN (3, 5, 8) ORDER BY grp, r LIMIT 30;
SELECT length(group_concat(name, ',')) FROM (SELECT name FROM item ORDER BY note DESC);
UPDATE item SET note = note || note WHERE id % 10 = 0;
DELETE FROM item WHERE id % 13 = 0;
SELECT count(*), sum(length(note)) FROM item;
SELECT count(DISTINCT note), count(DISTINCT substr(note, 1, 3)) FROM item;
VACUUM;
PRAGMA integrity_check;
