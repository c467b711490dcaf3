package review

import "testing"

func TestHolderName(t *testing.T) {
	tests := []struct{ given, surname, nationality, want string }{
		{"Lucía", "García López", "ESP", "Lucía García López"},
		{"磊", "刘", "CHN", "刘磊"},
		{"磊", "刘", "", "刘磊"},             // the script decides, not the nationality
		{"伟", "王", "ESP", "王伟"},          // a Han name held by a Spanish national
		{"太郎", "山田", "JPN", "山田太郎"},      // kanji
		{"はなこ", "やまだ", "JPN", "やまだはなこ"},  // hiragana
		{"민준", "김", "KOR", "김민준"},        // hangul
		{"Lei", "Liu", "CHN", "Lei Liu"}, // romanised: the Latin order
		{"Lei", "刘", "CHN", "刘 Lei"},     // mixed scripts: family first, with a space
		{"Văn An", "Nguyễn", "VNM", "Nguyễn Văn An"},
		{"Văn An", "Nguyễn", "vnm", "Nguyễn Văn An"},
		{"  Ana ", " Ruiz ", "ESP", "Ana Ruiz"},
		{"", "刘", "CHN", "刘"},
		{"磊", "", "CHN", "磊"},
		{"", "", "ESP", ""},
	}
	for _, tt := range tests {
		if got := HolderName(tt.given, tt.surname, tt.nationality); got != tt.want {
			t.Errorf("HolderName(%q, %q, %q) = %q, want %q", tt.given, tt.surname, tt.nationality, got, tt.want)
		}
	}
}
