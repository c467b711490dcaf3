package sandbox

import (
	"image/color"
	"math/rand/v2"
	"strconv"
	"strings"
)

// name is a given name or surname as printed (Native, any script) and its
// Latin form (empty when Native is already Latin script).
type name struct{ Native, Latin string }

func (n name) latin() string {
	if n.Latin != "" {
		return n.Latin
	}
	return n.Native
}

// place is a synthetic address.
type place struct{ Street, City, PostCode string }

// country holds what the synthetic identities and documents of one issuing
// country need. Every name and address is invented or a common word.
type country struct {
	Code, Name, NameEN string
	// Titles per document type, as printed in the header.
	Titles map[string]string
	// Given names and surnames, index 0 female, 1 male.
	Given, Surnames [2][]name
	TwoSurnames     bool // Spanish-style double surname
	Places          []place
	Ink             color.RGBA // header colour
	Paper           color.RGBA // background tint
	// Patterns for numbers: 'L' letter, '9' digit, 'A' letter or digit,
	// anything else literal.
	DocNumber, PassportNumber, Personal string
}

func latin(names ...string) []name {
	out := make([]name, len(names))
	for i, n := range names {
		out[i] = name{Native: n}
	}
	return out
}

func pairs(kv ...string) []name {
	out := make([]name, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, name{Native: kv[i], Latin: kv[i+1]})
	}
	return out
}

func titles(id, passport, license string) map[string]string {
	return map[string]string{DocIDCard: id, DocPassport: passport, DocDriverLicense: license}
}

// countries are the issuing countries the seeder varies over; API-created
// processes for other codes use genericCountry.
var countries = map[string]*country{
	"ESP": {
		Code: "ESP", Name: "REINO DE ESPAÑA", NameEN: "KINGDOM OF SPAIN",
		Titles: titles("DOCUMENTO NACIONAL DE IDENTIDAD", "PASAPORTE · PASSPORT", "PERMISO DE CONDUCCIÓN"),
		Given: [2][]name{
			latin("María", "Lucía", "Begoña", "Inés", "Ainhoa", "Mónica", "Rocío", "Nuria"),
			latin("José", "Íñigo", "Andrés", "Jesús", "Álvaro", "Adrián", "Joaquín", "Rubén"),
		},
		Surnames:    [2][]name{latin("García", "Fernández", "Núñez", "Ibáñez", "Muñoz", "Sánchez", "Gómez", "Martín", "Peña", "Castaño")},
		TwoSurnames: true,
		Places: []place{
			{"Calle Mayor 12, 3º B", "Madrid", "28013"},
			{"Avinguda Diagonal 401, 2º 1ª", "Barcelona", "08008"},
			{"Calle Larios 5", "Málaga", "29005"},
			{"Plaza del Pilar 3, 4º A", "Zaragoza", "50003"},
		},
		Ink: color.RGBA{0xa8, 0x1d, 0x2e, 0xff}, Paper: color.RGBA{0xf4, 0xe9, 0xe2, 0xff},
		DocNumber: "LLL999999", PassportNumber: "LLL999999", Personal: "dni",
	},
	"PRT": {
		Code: "PRT", Name: "REPÚBLICA PORTUGUESA", NameEN: "PORTUGUESE REPUBLIC",
		Titles: titles("CARTÃO DE CIDADÃO", "PASSAPORTE · PASSPORT", "CARTA DE CONDUÇÃO"),
		Given: [2][]name{
			latin("Conceição", "Inês", "Beatriz", "Leonor", "Sofia", "Margarida"),
			latin("João", "António", "Gonçalo", "Tomás", "Simão", "Rui"),
		},
		Surnames: [2][]name{latin("Gonçalves", "Simões", "Magalhães", "Conceição", "Araújo", "Ribeiro", "Sousa")},
		Places: []place{
			{"Rua Augusta 118, 2º Esq.", "Lisboa", "1100-053"},
			{"Rua de Santa Catarina 301", "Porto", "4000-450"},
			{"Avenida Sá da Bandeira 44", "Coimbra", "3000-351"},
		},
		Ink: color.RGBA{0x1e, 0x5a, 0x3c, 0xff}, Paper: color.RGBA{0xe8, 0xf1, 0xea, 0xff},
		DocNumber: "99999999L", PassportNumber: "L999999", Personal: "999999999",
	},
	"FRA": {
		Code: "FRA", Name: "RÉPUBLIQUE FRANÇAISE", NameEN: "FRENCH REPUBLIC",
		Titles: titles("CARTE NATIONALE D'IDENTITÉ", "PASSEPORT · PASSPORT", "PERMIS DE CONDUIRE"),
		Given: [2][]name{
			latin("Hélène", "Zoé", "Chloé", "Léa", "Maëlle", "Anaïs", "Céline"),
			latin("François", "Gérard", "Loïc", "Jérôme", "Noël", "Benoît", "Raphaël"),
		},
		Surnames: [2][]name{latin("Lefèvre", "Dubois", "Fontaine", "Girard", "Bérenger", "Leroy", "Moreau", "Lemaître")},
		Places: []place{
			{"12 rue de la Paix", "Paris", "75002"},
			{"8 place Bellecour", "Lyon", "69002"},
			{"27 cours Mirabeau", "Aix-en-Provence", "13100"},
		},
		Ink: color.RGBA{0x1f, 0x3c, 0x88, 0xff}, Paper: color.RGBA{0xe6, 0xec, 0xf6, 0xff},
		DocNumber: "AAAAAAAAA", PassportNumber: "99LL99999", Personal: "",
	},
	"DEU": {
		Code: "DEU", Name: "BUNDESREPUBLIK DEUTSCHLAND", NameEN: "FEDERAL REPUBLIC OF GERMANY",
		Titles: titles("PERSONALAUSWEIS", "REISEPASS · PASSPORT", "FÜHRERSCHEIN"),
		Given: [2][]name{
			latin("Käthe", "Jana", "Lena", "Jördis", "Anneliese", "Marlene"),
			latin("Jürgen", "Björn", "Jörg", "Günther", "Sören", "Lukas"),
		},
		Surnames: [2][]name{latin("Müller", "Schröder", "Weiß", "Groß", "Bäcker", "Köhler", "Schäfer")},
		Places: []place{
			{"Hauptstraße 17", "Berlin", "10827"},
			{"Königsallee 60", "Düsseldorf", "40212"},
			{"Schillerstraße 3", "München", "80336"},
		},
		Ink: color.RGBA{0x33, 0x33, 0x3a, 0xff}, Paper: color.RGBA{0xee, 0xec, 0xe4, 0xff},
		DocNumber: "LAAAAAAAA", PassportNumber: "LAAAAAAAA", Personal: "",
	},
	"ITA": {
		Code: "ITA", Name: "REPUBBLICA ITALIANA", NameEN: "ITALIAN REPUBLIC",
		Titles: titles("CARTA D'IDENTITÀ", "PASSAPORTO · PASSPORT", "PATENTE DI GUIDA"),
		Given: [2][]name{
			latin("Giulia", "Chiara", "Francesca", "Lucrezia", "Noemi"),
			latin("Niccolò", "Gianluca", "Mattia", "Nicolò", "Cosimo", "Pietro"),
		},
		Surnames: [2][]name{latin("Rossi", "De Luca", "Ricci", "Esposito", "Bianchi", "D'Angelo", "Colombo")},
		Places: []place{
			{"Via del Corso 101", "Roma", "00186"},
			{"Corso Buenos Aires 33", "Milano", "20124"},
			{"Via Toledo 256", "Napoli", "80132"},
		},
		Ink: color.RGBA{0x2d, 0x6a, 0x4f, 0xff}, Paper: color.RGBA{0xf0, 0xee, 0xe0, 0xff},
		DocNumber: "LL99999LL", PassportNumber: "LL9999999", Personal: "",
	},
	"MEX": {
		Code: "MEX", Name: "ESTADOS UNIDOS MEXICANOS", NameEN: "UNITED MEXICAN STATES",
		Titles: titles("CREDENCIAL PARA VOTAR", "PASAPORTE · PASSPORT", "LICENCIA DE CONDUCIR"),
		Given: [2][]name{
			latin("Guadalupe", "Ximena", "Sofía", "Itzel", "Valentina", "Renata"),
			latin("José Ángel", "Emiliano", "Santiago", "Iker", "Cuauhtémoc", "Sebastián"),
		},
		Surnames:    [2][]name{latin("Hernández", "Pérez", "López", "Martínez", "Ramírez", "Jiménez", "Velázquez")},
		TwoSurnames: true,
		Places: []place{
			{"Av. Insurgentes Sur 1602", "Ciudad de México", "03940"},
			{"Calle Morelos 88", "Guadalajara", "44100"},
			{"Av. Constitución 410", "Monterrey", "64000"},
		},
		Ink: color.RGBA{0x7a, 0x1f, 0x3d, 0xff}, Paper: color.RGBA{0xf3, 0xec, 0xee, 0xff},
		DocNumber: "999999999", PassportNumber: "L99999999", Personal: "LLLL999999LLLLLL99",
	},
	"ARG": {
		Code: "ARG", Name: "REPÚBLICA ARGENTINA", NameEN: "ARGENTINE REPUBLIC",
		Titles: titles("DOCUMENTO NACIONAL DE IDENTIDAD", "PASAPORTE · PASSPORT", "LICENCIA NACIONAL DE CONDUCIR"),
		Given: [2][]name{
			latin("Martina", "Agustina", "Milagros", "Florencia", "Belén"),
			latin("Agustín", "Joaquín", "Martín", "Tomás", "Nicolás", "Matías"),
		},
		Surnames: [2][]name{latin("González", "Rodríguez", "Fernández", "Gómez", "Díaz", "Álvarez", "Domínguez")},
		Places: []place{
			{"Av. Corrientes 1234, 5º B", "Buenos Aires", "C1043"},
			{"Bv. San Juan 560", "Córdoba", "X5000"},
			{"Calle San Martín 1020", "Rosario", "S2000"},
		},
		Ink: color.RGBA{0x2a, 0x6f, 0xb0, 0xff}, Paper: color.RGBA{0xe9, 0xf2, 0xf9, 0xff},
		DocNumber: "99999999", PassportNumber: "99999999L", Personal: "99999999",
	},
	"GRC": {
		Code: "GRC", Name: "ΕΛΛΗΝΙΚΗ ΔΗΜΟΚΡΑΤΙΑ", NameEN: "HELLENIC REPUBLIC",
		Titles: titles("ΔΕΛΤΙΟ ΤΑΥΤΟΤΗΤΑΣ · IDENTITY CARD", "ΔΙΑΒΑΤΗΡΙΟ · PASSPORT", "ΑΔΕΙΑ ΟΔΗΓΗΣΗΣ · DRIVING LICENCE"),
		Given: [2][]name{
			pairs("Ελένη", "ELENI", "Μαρία", "MARIA", "Κατερίνα", "KATERINA", "Σοφία", "SOFIA", "Δέσποινα", "DESPOINA"),
			pairs("Γιώργος", "GIORGOS", "Δημήτρης", "DIMITRIS", "Νίκος", "NIKOS", "Κώστας", "KOSTAS", "Θανάσης", "THANASIS"),
		},
		Surnames: [2][]name{
			pairs("Παπαδοπούλου", "PAPADOPOULOU", "Οικονόμου", "OIKONOMOU", "Γεωργίου", "GEORGIOU", "Νικολάου", "NIKOLAOU", "Βλάχου", "VLACHOU"),
			pairs("Παπαδόπουλος", "PAPADOPOULOS", "Οικονόμου", "OIKONOMOU", "Γεωργίου", "GEORGIOU", "Νικολάου", "NIKOLAOU", "Βλάχος", "VLACHOS"),
		},
		Places: []place{
			{"Οδός Ερμού 24", "Αθήνα", "105 63"},
			{"Λεωφόρος Νίκης 15", "Θεσσαλονίκη", "546 22"},
			{"Οδός Αγίου Νικολάου 7", "Πάτρα", "262 21"},
		},
		Ink: color.RGBA{0x1d, 0x4f, 0x91, 0xff}, Paper: color.RGBA{0xe8, 0xef, 0xf8, 0xff},
		DocNumber: "LL9999999", PassportNumber: "LL9999999", Personal: "",
	},
	"UKR": {
		Code: "UKR", Name: "УКРАЇНА", NameEN: "UKRAINE",
		Titles: titles("ПАСПОРТ ГРОМАДЯНИНА УКРАЇНИ", "ПАСПОРТ · PASSPORT", "ПОСВІДЧЕННЯ ВОДІЯ"),
		Given: [2][]name{
			pairs("Оксана", "OKSANA", "Юлія", "IULIIA", "Ірина", "IRYNA", "Наталія", "NATALIIA", "Олена", "OLENA"),
			pairs("Олександр", "OLEKSANDR", "Дмитро", "DMYTRO", "Андрій", "ANDRII", "Сергій", "SERHII", "Богдан", "BOHDAN"),
		},
		Surnames: [2][]name{pairs("Шевченко", "SHEVCHENKO", "Коваленко", "KOVALENKO", "Бондаренко", "BONDARENKO", "Ткаченко", "TKACHENKO", "Кравчук", "KRAVCHUK")},
		Places: []place{
			{"вул. Хрещатик 22, кв. 5", "Київ", "01001"},
			{"вул. Дерибасівська 14", "Одеса", "65026"},
			{"пл. Ринок 9", "Львів", "79008"},
		},
		Ink: color.RGBA{0x1f, 0x5f, 0xa8, 0xff}, Paper: color.RGBA{0xf4, 0xf1, 0xdc, 0xff},
		DocNumber: "999999999", PassportNumber: "LL999999", Personal: "9999999999",
	},
	"CHN": {
		Code: "CHN", Name: "中华人民共和国", NameEN: "PEOPLE'S REPUBLIC OF CHINA",
		Titles: titles("居民身份证 · RESIDENT IDENTITY CARD", "护照 · PASSPORT", "机动车驾驶证 · DRIVING LICENCE"),
		Given: [2][]name{
			pairs("娜", "NA", "敏", "MIN", "静", "JING", "丽", "LI", "芳", "FANG"),
			pairs("伟", "WEI", "洋", "YANG", "磊", "LEI", "强", "QIANG", "军", "JUN"),
		},
		Surnames: [2][]name{pairs("王", "WANG", "李", "LI", "张", "ZHANG", "刘", "LIU", "陈", "CHEN")},
		Places: []place{
			// In pinyin: the Go fonts have no CJK glyphs.
			{"88 Jianguo Lu, Chaoyang Qu", "Beijing", "100022"},
			{"100 Shiji Dadao, Pudong Xinqu", "Shanghai", "200120"},
			{"191 Tiyu Xilu, Tianhe Qu", "Guangzhou", "510620"},
		},
		Ink: color.RGBA{0xb3, 0x26, 0x1e, 0xff}, Paper: color.RGBA{0xf6, 0xee, 0xe3, 0xff},
		DocNumber: "L99999999", PassportNumber: "L99999999", Personal: "999999999999999999",
	},
}

// seedCountries are the countries the seeder picks from, in a stable order.
var seedCountries = []string{"ESP", "ESP", "ESP", "PRT", "FRA", "DEU", "ITA", "MEX", "ARG", "GRC", "UKR", "CHN"}

// genericCountry describes a country code the sandbox has no data for.
func genericCountry(code string) *country {
	return &country{
		Code: code, Name: code, NameEN: code,
		Titles: titles("IDENTITY CARD", "PASSPORT", "DRIVING LICENCE"),
		Given: [2][]name{
			latin("Anna", "Maria", "Sara", "Elena", "Laura"),
			latin("Daniel", "David", "Marco", "Adam", "Leo"),
		},
		Surnames: [2][]name{latin("Novak", "Berg", "Costa", "Meyer", "Silva", "Larsen")},
		Places: []place{
			{"1 Example Street", "Capital City", "10001"},
			{"22 Harbour Road", "Port Town", "20202"},
		},
		Ink: color.RGBA{0x44, 0x4b, 0x6e, 0xff}, Paper: color.RGBA{0xec, 0xed, 0xf3, 0xff},
		DocNumber: "LL9999999", PassportNumber: "LL9999999", Personal: "",
	}
}

func lookupCountry(code string) *country {
	if c, ok := countries[code]; ok {
		return c
	}
	return genericCountry(code)
}

// fromPattern fills a number pattern: 'L' letter, '9' digit, 'A' either.
func fromPattern(r *rand.Rand, pattern string) string {
	const letters = "ABCDEFGHJKLMNPRSTVWXYZ"
	const alnum = "CFGHJKLMNPRTVWXYZ0123456789"
	var b strings.Builder
	for _, c := range pattern {
		switch c {
		case 'L':
			b.WriteByte(letters[r.IntN(len(letters))])
		case '9':
			b.WriteByte(byte('0' + r.IntN(10)))
		case 'A':
			b.WriteByte(alnum[r.IntN(len(alnum))])
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// spanishDNI returns an 8-digit DNI with its control letter (modulo 23).
func spanishDNI(r *rand.Rand) string {
	n := 10_000_000 + r.IntN(89_999_999)
	return strconv.Itoa(n) + string("TRWAGMYFPDXBNJZSQVHLCKE"[n%23])
}

func personalNumber(r *rand.Rand, c *country) string {
	switch c.Personal {
	case "":
		return ""
	case "dni":
		return spanishDNI(r)
	}
	return fromPattern(r, c.Personal)
}
