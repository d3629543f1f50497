package chart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// element is one element of an SVG: its name, style and text.
type element struct {
	name, style, text string
}

// parse checks that svg is well-formed XML with an <svg> root and returns
// its elements in order.
func parse(t *testing.T, svg []byte) []element {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var els []element
	depth, root, inText := 0, "", false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = tok.Name.Local
			}
			depth++
			e := element{name: tok.Name.Local}
			inText = e.name == "text"
			for _, a := range tok.Attr {
				if a.Name.Local == "style" {
					e.style = a.Value
				}
			}
			els = append(els, e)
		case xml.EndElement:
			depth--
			inText = false
		case xml.CharData:
			if inText {
				els[len(els)-1].text += string(tok)
			}
		}
	}
	if root != "svg" || depth != 0 {
		t.Fatalf("root element %q, depth at the end %d; want a closed <svg>", root, depth)
	}
	return els
}

func hex(c color.RGBA) string { return fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B) }

// count returns how many paths have a style that contains every one of
// parts.
func count(els []element, parts ...string) int {
	n := 0
	for _, e := range els {
		if e.name != "path" {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(e.style, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// texts returns every text of the SVG, in one string.
func texts(els []element) string {
	var b strings.Builder
	for _, e := range els {
		if e.name == "text" {
			b.WriteString(e.text)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func drawTestdata(t *testing.T, name string) (Chart, []element) {
	t.Helper()
	c, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	svg, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("font-family:Liberation Sans,Arial,Helvetica,sans-serif;")) {
		t.Error("the SVG's text names no fallback font")
	}
	return c, parse(t, svg)
}

func TestBenchChart(t *testing.T) {
	c, els := drawTestdata(t, "bench.json")
	b := c.(*Bench)
	for i, ct := range b.Contenders {
		// A bar per scenario, and the legend's swatch.
		if got, want := count(els, "fill:"+hex(bars[i])), len(b.Scenarios)+1; got != want {
			t.Errorf("%s: %d shapes in its colour, want %d bars and a swatch", ct.Key, got, want)
		}
	}
	// The limit's dashed line across each group that reads Redis, and in
	// the legend.
	limits := 1
	for _, s := range b.Scenarios {
		if s.Baseline == b.Limit {
			limits++
		}
	}
	if got := count(els, "stroke-dasharray"); got != limits {
		t.Errorf("%d dashed lines, want %d (the limit in %d scenarios and the legend)", got, limits, limits-1)
	}
	all := strings.ReplaceAll(texts(els), "\n", " ")
	for _, want := range []string{"rueidis by hand", "stickless + client cache", "read via nginx", "over 3 instances",
		"Intel Xeon, 2 shared vCPUs", "2026-11-30 18:44 UTC", "read a logged-in session 0.75×", "60k"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in the chart", want)
		}
	}
}

func TestSoakChart(t *testing.T) {
	c, els := drawTestdata(t, "soak.json")
	s := c.(*Soak)
	all := texts(els)
	for _, f := range s.Faults {
		// The short label above the band, and the full name in the caption.
		if !strings.Contains(all, f.Label+"\n") {
			t.Errorf("no label %q in the chart", f.Label)
		}
		if !strings.Contains(strings.ReplaceAll(all, "\n", " "), f.Name) {
			t.Errorf("fault %q not named in the caption", f.Name)
		}
	}
	// A band per fault in each panel, and the legend's swatch.
	if got, want := count(els, "fill:"+hex(bandGrey)), 2*len(s.Faults)+1; got != want {
		t.Errorf("%d bands, want %d", got, want)
	}
	// Three series, each a line in its panel (the p99 one broken where a
	// second had no answer) and a sample in the legend.
	for _, l := range []struct {
		name  string
		sty   string
		lines int
	}{{"answers/s", hex(answeredLine.Color.(color.RGBA)), 1}, {"503/s", hex(unavailLine.Color.(color.RGBA)), 1},
		{"p99", hex(p99Line.Color.(color.RGBA)), 2}} {
		if got := count(els, "fill:none", "stroke:"+l.sty); got != l.lines+1 {
			t.Errorf("%s: %d lines in its colour, want %d and its legend sample", l.name, got, l.lines)
		}
	}
	for _, want := range []string{"0 acknowledged writes lost", "0 sessions served after their logout", "1,140 of 12,000 answers were 503",
		"seconds since the start", "answers/s", "503/s"} {
		if !strings.Contains(strings.ReplaceAll(all, "\n", " "), want) {
			t.Errorf("no text %q in the chart", want)
		}
	}
}

func TestSoakLabelsDoNotOverlap(t *testing.T) {
	// Faults 2 s apart in a 60 s run: their labels need rows of their own.
	s := &Soak{Mode: "standalone", Seconds: make([]Second, 60)}
	for i := range s.Seconds {
		s.Seconds[i] = Second{T: i, Answered: 200, P99MS: 2}
	}
	for i := range 4 {
		s.Faults = append(s.Faults, Fault{Name: "a fault", Label: "a rather long label", Start: float64(10 + 2*i), Healed: float64(11 + 2*i)})
	}
	top, bottom := s.panels()
	svg, err := s.SVG()
	if err != nil {
		t.Fatal(err)
	}
	parse(t, svg)
	rows := s.labelRows(top, stack(top, bottom, vgdraw.New(vgsvg.New(Width, 2*panelH)))[0])
	seen := map[int]bool{}
	for _, r := range rows {
		if seen[r] {
			t.Fatalf("two labels share a row: %v", rows)
		}
		seen[r] = true
	}
}

func TestStreamsChart(t *testing.T) {
	c, els := drawTestdata(t, "streams.json")
	s := c.(*Streams)
	// One series: the share of the streams ended by each time.
	if got := count(els, "fill:none", "stroke:"+hex(navy)); got != 1 {
		t.Errorf("%d lines in the series' colour, want 1", got)
	}
	all := strings.ReplaceAll(texts(els), "\n", " ")
	for _, want := range []string{"p50 ", "p99 ", "% of the streams ended", fmt.Sprintf("%d of the %d streams", len(s.EndMS), s.Revoked),
		"within the target of 3 s"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in the chart", want)
		}
	}
	if strings.Contains(all, "before the logout's answer") {
		t.Error("the caption counts streams ended before the answer; the test data has none")
	}
	// Ends seen before the logout's answer: drawn at 0 and counted.
	s.EndMS, s.Revoked = append(s.EndMS, -0.4, -1.2), s.Revoked+2
	svg, err := s.SVG()
	if err != nil {
		t.Fatal(err)
	}
	all = strings.ReplaceAll(texts(parse(t, svg)), "\n", " ")
	if !strings.Contains(all, "2 of them before the logout's answer") || strings.Contains(all, " -") {
		t.Errorf("with two ends before the answer, the texts are %q", all)
	}
}

func TestSaveAndRedraw(t *testing.T) {
	c, err := Load("testdata/streams.json")
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), "streams")
	if err := Save(base, c); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(base + ".svg")
	os.Remove(base + ".svg")
	svg, err := Redraw(base + ".json")
	if err != nil || svg != base+".svg" {
		t.Fatalf("Redraw: %q, %v", svg, err)
	}
	again, _ := os.ReadFile(svg)
	if len(first) == 0 || !bytes.Equal(first, again) {
		t.Errorf("the chart redrawn from the saved results differs from the one Save drew (%d and %d bytes)", len(first), len(again))
	}
	if _, err := Redraw(base + ".svg"); err == nil {
		t.Error("Redraw of a .svg: no error")
	}
	bad := filepath.Join(t.TempDir(), "x.json")
	os.WriteFile(bad, []byte(`{"kind":"pie"}`), 0o600)
	if _, err := Redraw(bad); err == nil || !strings.Contains(err.Error(), `"pie"`) {
		t.Errorf("Redraw of an unknown kind: %v", err)
	}
}

// TestBarsSurviveGreyScale: each bar colour is darker than the one before,
// by 10 L* and 25 luma (CSS grayscale()) or more.
func TestBarsSurviveGreyScale(t *testing.T) {
	lin := func(v uint8) float64 {
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	lstar := func(c color.RGBA) float64 {
		y := 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
		if y <= 216.0/24389 {
			return y * 24389 / 27
		}
		return 116*math.Cbrt(y) - 16
	}
	luma := func(c color.RGBA) float64 { return 0.2126*float64(c.R) + 0.7152*float64(c.G) + 0.0722*float64(c.B) }
	for i := 1; i < len(bars); i++ {
		if d := lstar(bars[i-1]) - lstar(bars[i]); d < 10 {
			t.Errorf("bars %d and %d differ by %.1f L*", i-1, i, d)
		}
		if d := luma(bars[i-1]) - luma(bars[i]); d < 25 {
			t.Errorf("bars %d and %d differ by %.0f luma", i-1, i, d)
		}
	}
}
