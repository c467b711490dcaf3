package i18n

// Spanish for the comparison tools of the process page: faces side by side, overlay and
// blink, the liveness video's player and their keyboard shortcuts (views/compare.templ).
func init() {
	add(map[string]string{
		// Faces
		"Face comparison tools": "Herramientas de comparación de caras",
		"Zoom":                  "Zoom",
		"Zoom out":              "Alejar",
		"Zoom level":            "Nivel de zoom",
		"Zoom in":               "Acercar",
		"Reset zoom and pan":    "Restablecer zoom y encuadre",
		"Comparison view":       "Vista de comparación",
		"Side by side":          "Lado a lado",
		"Overlay":               "Superposición",
		"Blink":                 "Parpadeo",
		"Pause blinking":        "Pausar el parpadeo",
		"Portrait opacity":      "Opacidad del retrato",
		"Brightness":            "Brillo",
		"Contrast":              "Contraste",
		"Reset all":             "Restablecer todo",
		"Faces: drag to pan, wheel to zoom, arrow keys to move": "Caras: arrastre para mover, rueda para hacer zoom, flechas para desplazar",
		"Not available for this process: %s.":                   "No disponible en este proceso: %s.",

		// Video
		"Video tools":    "Herramientas del vídeo",
		"Speed":          "Velocidad",
		"Speed %s":       "Velocidad %s",
		"Frame step":     "Fotograma a fotograma",
		"Previous frame": "Fotograma anterior",
		"Next frame":     "Fotograma siguiente",
		"Loop":           "Bucle",
		"Loop start":     "Inicio del bucle",
		"Loop end":       "Fin del bucle",
		"Clear range":    "Quitar el rango",
		"Loop range:":    "Rango del bucle:",
		"No range set: the loop repeats the whole video.": "Sin rango: el bucle repite todo el vídeo.",
		"No video for this process.":                      "No hay vídeo en este proceso.",

		// Keyboard help
		"Zoom the faces in / out":                                        "Acercar / alejar las caras",
		"Reset the faces' zoom and pan":                                  "Restablecer el zoom y el encuadre de las caras",
		"Pan the faces (when they have focus)":                           "Mover las caras (cuando tienen el foco)",
		"Overlay the portrait on the selfie; again: side by side":        "Superponer el retrato al selfie; otra vez: lado a lado",
		"Blink between the portrait and the selfie; again: side by side": "Alternar el retrato y el selfie; otra vez: lado a lado",
		"Play or pause the video":                                        "Reproducir o pausar el vídeo",
		"Video slower / faster":                                          "Vídeo más lento / más rápido",
		"Video: previous / next frame":                                   "Vídeo: fotograma anterior / siguiente",
		"Set the loop start / end at the video's current time":           "Fijar el inicio / fin del bucle en el instante actual del vídeo",
		"Loop the selected range on or off":                              "Activar o desactivar el bucle del rango elegido",
	})
}
