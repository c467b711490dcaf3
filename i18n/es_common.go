package i18n

// Spanish for words shared by many pages. Each area of the portal keeps its own file
// (es_<area>.go); a key may appear in two files only with the same translation.
func init() {
	add(map[string]string{
		"Cancel": "Cancelar",
		"Save":   "Guardar",
	})
}
