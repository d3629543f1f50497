package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Render copies the template file to out with each @MARKER@ of markers
// replaced on every line that is not a comment (a line whose first
// non-blank character is #), so that the shipped files can document their
// markers in comments. A marker left unreplaced on a non-comment line is
// an error: the shipped file and this code disagree. The file is written
// 0644: it holds addresses and paths, never a secret.
//
// It is the one way the repository renders deploy/nginx.conf,
// deploy/nginx-dev.conf and deploy/prometheus.yml: `make cluster`, e2e and
// the soak all run the same text.
func Render(template, out string, markers map[string]string) error {
	b, err := os.ReadFile(template)
	if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for k, v := range markers {
			line = strings.ReplaceAll(line, k, v)
		}
		if strings.Contains(line, "@") {
			return fmt.Errorf("topology: %s:%d: marker left unreplaced: %s", filepath.Base(template), i+1, strings.TrimSpace(line))
		}
		lines[i] = line
	}
	return os.WriteFile(out, []byte(strings.Join(lines, "\n")), 0o644)
}
