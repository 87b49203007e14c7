-- The benchmark's application-like data (psql variables: rows = events; users and documents scale with it):
-- accounts with a JSON profile, text documents written from a common vocabulary with rare tokens, and a
-- JSON event log. Compresses about 4x with gzip -6, like application data, where pgbench's tables
-- compress 14x. Generated in SQL, with no vocabulary table to look up (that would be slow to detoast).
CREATE TABLE users AS
  SELECT g AS id,
         initcap(substr(md5(g::text), 1, 4 + g % 5)) || ' ' || initcap(substr(md5((g * 7)::text), 3, 5 + g % 4)) AS name,
         'u' || g || '@' || (ARRAY['example.com', 'mail.test', 'corp.example', 'web.test'])[1 + g % 4] AS email,
         now() - (g % 100000) * interval '7 minutes' AS created,
         jsonb_build_object('plan', (ARRAY['free', 'pro', 'team', 'enterprise'])[1 + (g * 31) % 4],
                            'locale', (ARRAY['en-US', 'de-DE', 'fr-FR', 'ja-JP', 'pt-BR'])[1 + g % 5],
                            'newsletter', g % 3 = 0,
                            'score', round((random() * 1000)::numeric, 2),
                            'token', md5(random()::text)) AS profile
  FROM generate_series(1, :rows / 10) g;
CREATE TABLE documents AS
  SELECT g AS id, 1 + (g * 13) % (:rows / 10) AS owner,
         (SELECT string_agg(CASE WHEN random() < 0.9 THEN (string_to_array('the of and to in a is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their has would when if so no will more can out up what about who some only into them time than then its could other like two may first new any these do over also after most very our now made through where many well such even before how must people see way back own much us down year should just same good because world between each life work those state still part long under while great last might day high number both little place never house case point use thing group problem fact hand system company program question government order plan report data user account item', ' '))[1 + floor(180 * power(random(), 3))::int]
                  ELSE substr(md5(random()::text), 1, 3 + k % 7) END, ' ')
            FROM generate_series(1, 40 + g % 160 + 0 * g) k) AS body,
         now() - random() * interval '900 days' AS updated
  FROM generate_series(1, :rows / 25) g;
CREATE TABLE events AS
  SELECT g AS id, gen_random_uuid() AS request, now() - g * interval '250 milliseconds' AS at,
         jsonb_build_object('user', 1 + (random() * (:rows / 10 - 1))::int,
                            'action', (ARRAY['login', 'view', 'search', 'buy', 'update', 'logout'])[1 + (random() * 5)::int],
                            'path', '/api/v2/items/' || floor(100000 * power(random(), 2))::int,
                            'status', (ARRAY[200, 200, 200, 200, 201, 304, 404, 500])[1 + (random() * 7)::int],
                            'ms', floor(random() * random() * 2000)::int,
                            'ip', '10.0.' || g % 4 || '.' || (random() * 250)::int,
                            'agent', (ARRAY['Mozilla/5.0 (X11; Linux x86_64)', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)', 'curl/8.5.0', 'okhttp/4.12.0'])[1 + (random() * 3)::int]) AS payload
  FROM generate_series(1, :rows) g;
