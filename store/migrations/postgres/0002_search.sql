-- The search of the history and the queue on PostgreSQL: what sqlite/0015_search.sql
-- builds with FTS5's trigram tokenizer, from pg_trgm (a trusted extension since
-- PostgreSQL 13: a database owner may create it).
--
-- The store's SQL reads matches as "FROM process_search(?)" on both engines (store/search.go):
-- on SQLite the table-valued form of FTS5's MATCH, here the function process_search
-- below. It takes the same query text, every term a double-quoted string (doubled quotes
-- inside) joined by AND, and gives the history key (process_history.ak) of each process
-- whose id, holder name or customer reference contains every term, as FTS5 does: case
-- and accents folded the same way, each term within one of the three, a term shorter
-- than three characters once folded matching nothing.
--
-- process_search holds one row per process under its history key, with the folded text
-- (id, name, reference on three lines; a purged process keeps only its id) indexed by
-- trigrams, so that a term is a LIKE substring the GIN index narrows down, and the
-- history's order and keyset cursor are the primary key, as FTS5's rowid is on SQLite.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- FTS5's folding (trigram tokenizer, remove_diacritics 1), character by character: upper
-- to lower case, a Latin letter with diacritics to its base letter, the combining
-- accents FTS5 drops removed. It depends on no locale, unlike lower() and unaccent. The
-- table lists every character FTS5 folds, taken from SQLite itself (each code point
-- tokenized), after printable ASCII: translate() looks each character up from the start
-- of the list, so the common ones come first. TestSearchFoldMatchesFTS5 compares it with
-- SQLite on every code point of the first two planes.
CREATE FUNCTION process_search_fold(s text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT translate(translate(s,
	' !"#$%&''()*+,-./0123456789:;<=>?'
	'@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_'
	'`abcdefghijklmnopqrstuvwxyz{|}~'
	'µÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞàáâãäåçèé'
	'êëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĐĒēĔĕĖ'
	'ėĘęĚěĜĝĞğĠġĢģĤĥĦĨĩĪīĬĭĮįİĲĴĵĶķĹĺĻļĽľĿŁŃń'
	'ŅņŇňŊŌōŎŏŐőŒŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŨũŪūŬŭŮůŰ'
	'űŲųŴŵŶŷŸŹźŻżŽžſƁƂƄƆƇƉƊƋƎƏƐƑƓƔƖƗƘƜƝƟƠơƢƤƦ'
	'ƧƩƬƮƯưƱƲƳƵƷƸƼǄǅǇǈǊǋǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǢǤ'
	'ǦǧǨǩǪǫǬǭǮǰǱǲǴǵǶǷǸǹǺǻǼǾȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑ'
	'ȒȓȔȕȖȗȘșȚțȜȞȟȠȢȤȦȧȨȩȪȫȬȭȮȯȰȱȲȳȺȻȽȾɁɃɄɅɆɈ'
	'ɊɌɎͅͰͲͶΆΈΉΊΌΎΏΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪΫ'
	'ςϏϐϑϕϖϘϚϜϞϠϢϤϦϨϪϬϮϰϱϴϵϷϹϺϽϾϿЀЁЂЃЄЅІЇЈЉЊЋ'
	'ЌЍЎЏАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯѠѢѤѦ'
	'ѨѪѬѮѰѲѴѶѸѺѼѾҀҊҌҎҐҒҔҖҘҚҜҞҠҢҤҦҨҪҬҮҰҲҴҶҸҺҼҾ'
	'ӀӁӃӅӇӉӋӍӐӒӔӖӘӚӜӞӠӢӤӦӨӪӬӮӰӲӴӶӸӺӼӾԀԂԄԆԈԊԌԎ'
	'ԐԒԔԖԘԚԜԞԠԢԤԦԱԲԳԴԵԶԷԸԹԺԻԼԽԾԿՀՁՂՃՄՅՆՇՈՉՊՋՌ'
	'ՍՎՏՐՑՒՓՔՕՖႠႡႢႣႤႥႦႧႨႩႪႫႬႭႮႯႰႱႲႳႴႵႶႷႸႹႺႻႼႽ'
	'ႾႿჀჁჂჃჄჅჇჍḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝ'
	'ḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅ'
	'ṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭ'
	'ṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕ'
	'ẖẗẘẙẛẞẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀề'
	'ỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứ'
	'ỪừỬửỮữỰựỲỳỴỵỶỷỸỹỺỼỾἈἉἊἋἌἍἎἏἘἙἚἛἜἝἨἩἪἫἬἭἮ'
	'ἯἸἹἺἻἼἽἾἿὈὉὊὋὌὍὙὛὝὟὨὩὪὫὬὭὮὯᾈᾉᾊᾋᾌᾍᾎᾏᾘᾙᾚᾛᾜ'
	'ᾝᾞᾟᾨᾩᾪᾫᾬᾭᾮᾯᾸᾹᾺΆᾼιῈΈῊΉῌῘῙῚΊῨῩῪΎῬῸΌῺΏῼΩKÅℲ'
	'ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫⅬⅭⅮⅯↃⒶⒷⒸⒹⒺⒻⒼⒽⒾⒿⓀⓁⓂⓃⓄⓅⓆⓇⓈⓉⓊⓋⓌ'
	'ⓍⓎⓏⰀⰁⰂⰃⰄⰅⰆⰇⰈⰉⰊⰋⰌⰍⰎⰏⰐⰑⰒⰓⰔⰕⰖⰗⰘⰙⰚⰛⰜⰝⰞⰟⰠⰡⰢⰣⰤ'
	'ⰥⰦⰧⰨⰩⰪⰫⰬⰭⰮⱠⱢⱣⱤⱧⱩⱫⱭⱮⱯⱰⱲⱵⱾⱿⲀⲂⲄⲆⲈⲊⲌⲎⲐⲒⲔⲖⲘⲚⲜ'
	'ⲞⲠⲢⲤⲦⲨⲪⲬⲮⲰⲲⲴⲶⲸⲺⲼⲾⳀⳂⳄⳆⳈⳊⳌⳎⳐⳒⳔⳖⳘⳚⳜⳞⳠⳢⳫⳭⳲꙀꙂ'
	'ꙄꙆꙈꙊꙌꙎꙐꙒꙔꙖꙘꙚꙜꙞꙠꙢꙤꙦꙨꙪꙬꚀꚂꚄꚆꚈꚊꚌꚎꚐꚒꚔꚖꜢꜤꜦꜨꜪꜬꜮ'
	'ꜲꜴꜶꜸꜺꜼꜾꝀꝂꝄꝆꝈꝊꝌꝎꝐꝒꝔꝖꝘꝚꝜꝞꝠꝢꝤꝦꝨꝪꝬꝮꝹꝻꝽꝾꞀꞂꞄꞆꞋ'
	'ꞍꞐꞒꞠꞢꞤꞦꞨꞪＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ￾￿𐐀𐐁𐐂'
	'𐐃𐐄𐐅𐐆𐐇𐐈𐐉𐐊𐐋𐐌𐐍𐐎𐐏𐐐𐐑𐐒𐐓𐐔𐐕𐐖𐐗𐐘𐐙𐐚𐐛𐐜𐐝𐐞𐐟𐐠𐐡𐐢𐐣𐐤𐐥𐐦𐐧',
	' !"#$%&''()*+,-./0123456789:;<=>?'
	'@abcdefghijklmnopqrstuvwxyz[\]^_'
	'`abcdefghijklmnopqrstuvwxyz{|}~'
	'μaaaaaaæceeeeiiiiðnoooooøuuuuyþaaaaaacee'
	'eeiiiinooooouuuuyyaaaaaaccccccccddđeeeee'
	'eeeeegggggggghhħiiiiiiiiiĳjjkkllllllŀłnn'
	'nnnnŋooooooœrrrrrrssssssssttttŧuuuuuuuuu'
	'uuuwwyyyzzzzzzsɓƃƅɔƈɖɗƌǝəɛƒɠɣɩɨƙɯɲɵooƣƥʀ'
	'ƨʃƭʈuuʊʋƴƶʒƹƽǆǆǉǉǌǌaaiioouuuuuuuuuuaaǡǣǥ'
	'ggkkooooǯjǳǳggƕƿnnaaǽǿaaaaeeeeiiiioooorr'
	'rruuuussttȝhhƞȣȥaaeeooooooooyyⱥȼƚⱦɂƀʉʌɇɉ'
	'ɋɍɏιͱͳͷάέήίόύώαβγδεζηθικλμνξοπρστυφχψωϊϋ'
	'σϗβθφπϙϛϝϟϡϣϥϧϩϫϭϯκρθεϸϲϻͻͼͽѐёђѓєѕіїјљњћ'
	'ќѝўџабвгдежзийклмнопрстуфхцчшщъыьэюяѡѣѥѧ'
	'ѩѫѭѯѱѳѵѷѹѻѽѿҁҋҍҏґғҕҗҙқҝҟҡңҥҧҩҫҭүұҳҵҷҹһҽҿ'
	'ӏӂӄӆӈӊӌӎӑӓӕӗәӛӝӟӡӣӥӧөӫӭӯӱӳӵӷӹӻӽӿԁԃԅԇԉԋԍԏ'
	'ԑԓԕԗԙԛԝԟԡԣԥԧաբգդեզէըթժիլխծկհձղճմյնշոչպջռ'
	'սվտրցւփքօֆⴀⴁⴂⴃⴄⴅⴆⴇⴈⴉⴊⴋⴌⴍⴎⴏⴐⴑⴒⴓⴔⴕⴖⴗⴘⴙⴚⴛⴜⴝ'
	'ⴞⴟⴠⴡⴢⴣⴤⴥⴧⴭaabbbbbbccddddddddddeeeeeeeeee'
	'ffgghhhhhhhhhhiiiikkkkkkllllllllmmmmmmnn'
	'nnnnnnoooooooopppprrrrrrrrsssssssssstttt'
	'ttttuuuuuuuuuuvvvvwwwwwwwwwwxxxxyyzzzzzz'
	'htwysßaaaaaaaaaaaaaaaaaaaaaaaaeeeeeeeeee'
	'eeeeeeiiiioooooooooooooooooooooooouuuuuu'
	'uuuuuuuuyyyyyyyyỻỽỿἀἁἂἃἄἅἆἇἐἑἒἓἔἕἠἡἢἣἤἥἦ'
	'ἧἰἱἲἳἴἵἶἷὀὁὂὃὄὅὑὓὕὗὠὡὢὣὤὥὦὧᾀᾁᾂᾃᾄᾅᾆᾇᾐᾑᾒᾓᾔ'
	'ᾕᾖᾗᾠᾡᾢᾣᾤᾥᾦᾧᾰᾱὰάᾳιὲέὴήῃῐῑὶίῠῡὺύῥὸόὼώῳωkaⅎ'
	'ⅰⅱⅲⅳⅴⅵⅶⅷⅸⅹⅺⅻⅼⅽⅾⅿↄⓐⓑⓒⓓⓔⓕⓖⓗⓘⓙⓚⓛⓜⓝⓞⓟⓠⓡⓢⓣⓤⓥⓦ'
	'ⓧⓨⓩⰰⰱⰲⰳⰴⰵⰶⰷⰸⰹⰺⰻⰼⰽⰾⰿⱀⱁⱂⱃⱄⱅⱆⱇⱈⱉⱊⱋⱌⱍⱎⱏⱐⱑⱒⱓⱔ'
	'ⱕⱖⱗⱘⱙⱚⱛⱜⱝⱞⱡɫᵽɽⱨⱪⱬɑɱɐɒⱳⱶȿɀⲁⲃⲅⲇⲉⲋⲍⲏⲑⲓⲕⲗⲙⲛⲝ'
	'ⲟⲡⲣⲥⲧⲩⲫⲭⲯⲱⲳⲵⲷⲹⲻⲽⲿⳁⳃⳅⳇⳉⳋⳍⳏⳑⳓⳕⳗⳙⳛⳝⳟⳡⳣⳬⳮⳳꙁꙃ'
	'ꙅꙇꙉꙋꙍꙏꙑꙓꙕꙗꙙꙛꙝꙟꙡꙣꙥꙧꙩꙫꙭꚁꚃꚅꚇꚉꚋꚍꚏꚑꚓꚕꚗꜣꜥꜧꜩꜫꜭꜯ'
	'ꜳꜵꜷꜹꜻꜽꜿꝁꝃꝅꝇꝉꝋꝍꝏꝑꝓꝕꝗꝙꝛꝝꝟꝡꝣꝥꝧꝩꝫꝭꝯꝺꝼᵹꝿꞁꞃꞅꞇꞌ'
	'ɥꞑꞓꞡꞣꞥꞧꞩɦａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ��𐐨𐐩𐐪'
	'𐐫𐐬𐐭𐐮𐐯𐐰𐐱𐐲𐐳𐐴𐐵𐐶𐐷𐐸𐐹𐐺𐐻𐐼𐐽𐐾𐐿𐑀𐑁𐑂𐑃𐑄𐑅𐑆𐑇𐑈𐑉𐑊𐑋𐑌𐑍𐑎𐑏'),
	U&'\0300\0301\0302\0303\0304\0306\0307\0308\0309\030A\030B\030C\030F\0311\031B\0323\0324\0325\0326\0327\0328\032D\032E\0330\0331', '')
$$;

-- The indexed text of a process: its three fields folded, one a line. A term never holds
-- a line break (store/search.go turns control characters into spaces), so none matches
-- across two fields, as on SQLite, where they are three columns.
CREATE FUNCTION process_search_text(id text, holder text, ref text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT process_search_fold(coalesce(id, '')) || E'\n' || process_search_fold(coalesce(holder, '')) || E'\n'
	|| process_search_fold(coalesce(ref, ''))
$$;

-- The LIKE patterns of a query: each quoted term folded, with LIKE's \, % and _ escaped
-- (backslash is PostgreSQL's escape character for LIKE), the longest first (the most
-- trigrams: process_search gives it to the index). A term under three characters once
-- folded is NULL: FTS5 finds nothing for it, and a NULL pattern matches nothing.
CREATE FUNCTION process_search_patterns(query text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT array_agg(CASE WHEN char_length(t) >= 3
		THEN '%' || replace(replace(replace(t, '\', '\\'), '%', '\%'), '_', '\_') || '%' END
	ORDER BY char_length(t) DESC)
FROM (SELECT process_search_fold(replace(m[1], '""', '"')) AS t
	FROM regexp_matches(query, '"((?:[^"]|"")*)"', 'g') AS m) terms
$$;

CREATE TABLE process_search (
	ak   BIGINT PRIMARY KEY, -- process_history.ak
	text TEXT   NOT NULL
);

CREATE INDEX process_search_trgm ON process_search USING gin (text gin_trgm_ops);

-- The matches of a query, as rowid like FTS5's: the GIN index finds the rows holding the
-- two longest terms (a missing second one, '%', narrows nothing), the others are checked
-- on them. A SQL function the planner inlines into the query that calls it. The patterns
-- are subqueries, worked out once per query: the store's statements are prepared, and
-- in a generic plan a plain expression of the query text would be worked out again for
-- every row the index hands over.
CREATE FUNCTION process_search(query text) RETURNS TABLE (rowid bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT s.ak FROM process_search s
WHERE s.text LIKE (SELECT (process_search_patterns(query))[1])
	AND s.text LIKE (SELECT coalesce((process_search_patterns(query))[2], '%'))
	AND s.text LIKE ALL ((SELECT process_search_patterns(query))::text[])
$$;

-- The existing processes (none when 0001 has just run).
INSERT INTO process_search (ak, text)
SELECT h.ak, process_search_text(s.process_id, s.holder, s.ref)
FROM process_history h JOIN process_history_source s ON s.process_id = h.process_id;

-- process_search follows process_history (its key is ak, which moves with the activity)
-- and the text of processes, as SQLite's triggers of 0015 do.
CREATE FUNCTION process_history_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO process_search (ak, text)
	SELECT NEW.ak, process_search_text(s.process_id, s.holder, s.ref)
	FROM process_history_source s WHERE s.process_id = NEW.process_id;
	RETURN NULL;
END
$$;

CREATE TRIGGER process_history_search_insert AFTER INSERT ON process_history
	FOR EACH ROW EXECUTE FUNCTION process_history_search_insert();

-- The entry moves with its key; its text is processes_search_update's. (FTS5 cannot
-- change a rowid, so SQLite deletes the entry and indexes the text again.)
CREATE FUNCTION process_history_search_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE process_search SET ak = NEW.ak WHERE ak = OLD.ak;
	RETURN NULL;
END
$$;

CREATE TRIGGER process_history_search_move AFTER UPDATE ON process_history
	FOR EACH ROW WHEN (OLD.ak IS DISTINCT FROM NEW.ak)
	EXECUTE FUNCTION process_history_search_move();

CREATE FUNCTION process_history_search_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM process_search WHERE ak = OLD.ak;
	RETURN NULL;
END
$$;

CREATE TRIGGER process_history_search_delete AFTER DELETE ON process_history
	FOR EACH ROW EXECUTE FUNCTION process_history_search_delete();

CREATE FUNCTION processes_search_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE process_search SET text =
		(SELECT process_search_text(s.process_id, s.holder, s.ref) FROM process_history_source s WHERE s.process_id = NEW.id)
	WHERE ak IN (SELECT ak FROM process_history WHERE process_id IN (OLD.id, NEW.id));
	RETURN NULL;
END
$$;

CREATE TRIGGER processes_search_update AFTER UPDATE OF id, holder_name, customer_ref, purged_at ON processes
	FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.holder_name IS DISTINCT FROM NEW.holder_name
		OR OLD.customer_ref IS DISTINCT FROM NEW.customer_ref OR (OLD.purged_at IS NULL) IS DISTINCT FROM (NEW.purged_at IS NULL))
	EXECUTE FUNCTION processes_search_update();
