// Package chart draws the charts of the programs that measure stickless:
// the side-by-side benchmark (loadgen), the long-connection run (loadgen
// -c10k-streams) and the soak. Each program saves its results as JSON
// with [Save], which also draws the chart beside them as SVG; [Redraw]
// draws a chart again from saved results, without measuring anything
// (cmd/charts, `make charts`).
//
// The charts are drawn with gonum.org/v1/plot, for a reader: 720 pt wide
// (a README on GitHub shows them at about 830 px), text no smaller than
// 9 pt, and series told apart by lightness and dashes as well as by hue,
// so that they survive a grey-scale print.
package chart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The kinds of saved results, in their "kind" field.
const (
	KindBench   = "bench"
	KindStreams = "streams"
	KindSoak    = "soak"
)

// Chart is saved results that draw their chart: a *Bench, *Streams or
// *Soak.
type Chart interface {
	// SVG draws the chart.
	SVG() ([]byte, error)
	kind() string
}

// Save writes c as JSON to base+".json" and its chart to base+".svg",
// making base's directory when it is missing.
func Save(base string, c Chart) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	// The kind first: {"kind": "...", and c's fields.
	b = append([]byte(fmt.Sprintf("{\n  \"kind\": %q,", c.kind())), b[1:]...)
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", append(b, '\n'), 0o644); err != nil {
		return err
	}
	svg, err := c.SVG()
	if err != nil {
		return fmt.Errorf("chart %s.svg: %w", base, err)
	}
	return os.WriteFile(base+".svg", svg, 0o644)
}

// Load reads results saved by Save.
func Load(path string) (Chart, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var c Chart
	switch k.Kind {
	case KindBench:
		c = &Bench{}
	case KindStreams:
		c = &Streams{}
	case KindSoak:
		c = &Soak{}
	default:
		return nil, fmt.Errorf("%s: kind %q is none of %s, %s, %s", path, k.Kind, KindBench, KindStreams, KindSoak)
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Redraw draws the chart of the results saved at path (a .json file)
// beside it, as the .svg of the same name, and returns that name.
func Redraw(path string) (string, error) {
	base, ok := strings.CutSuffix(path, ".json")
	if !ok {
		return "", errors.New(path + ": want a .json file of saved results")
	}
	c, err := Load(path)
	if err != nil {
		return "", err
	}
	svg, err := c.SVG()
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return base + ".svg", os.WriteFile(base+".svg", svg, 0o644)
}

// Width is the width of every chart.
const Width = vg.Length(720)

// sans is the font of every text: Liberation Sans, whose metrics are
// Arial's and Helvetica's, so that text measured here fits where a
// browser draws it with any of the three (see fontFallback).
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

func init() {
	plot.DefaultFont = sans
}

// style returns a text style of size pt.
func style(pt vg.Length, c color.Color) text.Style {
	return text.Style{Color: c, Font: font.From(sans, pt), Handler: plot.DefaultTextHandler}
}

// newPlot returns a plot with this package's sizes.
func newPlot() *plot.Plot {
	p := plot.New()
	p.Title.TextStyle.Font.Size = 13
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = 11
		a.Tick.Label.Font.Size = 10
	}
	return p
}

// The colours. Series that sit side by side differ in lightness as well
// as hue: the comments give CIE L* (0 black, 100 white) and the luma of
// CSS's grayscale() (0 to 255), what a grey-scale print or filter keeps.
var (
	black    = color.RGBA{0x00, 0x00, 0x00, 0xff}
	textGrey = color.RGBA{0x40, 0x40, 0x40, 0xff}
	bandGrey = color.RGBA{0xdd, 0xdd, 0xdd, 0xff} // 88, 221
	gridGrey = color.RGBA{0xee, 0xee, 0xee, 0xff}
	navy     = color.RGBA{0x1b, 0x3a, 0x6b, 0xff} // 25, 55
	red      = color.RGBA{0xc0, 0x39, 0x2b, 0xff} // 45, 85

	// bars are the fills of the bars of a group, from left to right,
	// each darker than the one before by 10 L* and 25 luma or more, so
	// that the legend's order is the order of lightness. With the
	// benchmark's contenders: bare, go-redis and rueidis by hand in
	// greys, scs in orange, gorilla in red, stickless in blue and navy.
	bars = []color.RGBA{
		{0xe8, 0xe8, 0xe8, 0xff}, // 92, 232
		{0xc4, 0xc4, 0xc4, 0xff}, // 79, 196
		{0xa3, 0xa3, 0xa3, 0xff}, // 67, 163
		{0xd0, 0x6a, 0x20, 0xff}, // 56, 122
		{0xbc, 0x3c, 0x2c, 0xff}, // 44, 86
		{0x1e, 0x3c, 0x8c, 0xff}, // 28, 59
		{0x0e, 0x1c, 0x40, 0xff}, // 11, 28
	}
)

// svgOf runs paint on a canvas w × h and returns the SVG.
func svgOf(w, h vg.Length, paint func(dc draw.Canvas)) ([]byte, error) {
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	// A white background: a viewer in dark mode would show the chart's
	// black text on black otherwise.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	paint(dc)
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return fontFallback(buf.Bytes()), nil
}

// fontFallback lets a browser without Liberation Sans use Arial or
// Helvetica (same metrics) before its default font, which would be a
// serif one: vgsvg names the font alone.
func fontFallback(svg []byte) []byte {
	return bytes.ReplaceAll(svg, []byte("font-family:Liberation Sans;"),
		[]byte("font-family:Liberation Sans,Arial,Helvetica,sans-serif;"))
}

// wrap splits s into lines no wider than w in sty.
func wrap(s string, sty text.Style, w vg.Length) []string {
	var lines []string
	for para := range strings.SplitSeq(s, "\n") {
		line := ""
		for word := range strings.FieldsSeq(para) {
			next := word
			if line != "" {
				next = line + " " + word
			}
			if line != "" && sty.Width(next) > w {
				lines = append(lines, line)
				next = word
			}
			line = next
		}
		lines = append(lines, line)
	}
	return lines
}

// captionWidth is the width the caption's lines are wrapped to: 90% of the
// chart's, so that they still fit in a font wider than Liberation Sans
// (DejaVu Sans, where neither it nor Arial is installed, is about 8%
// wider).
func captionWidth(w vg.Length) vg.Length { return (w - 2*margin) * 0.9 }

// captionHeight is the height that caption needs.
func captionHeight(s string, w vg.Length) vg.Length {
	sty := style(captionSize, textGrey)
	return vg.Length(len(wrap(s, sty, captionWidth(w))))*lineHeight(captionSize) + margin
}

// caption writes s, wrapped, at the bottom of dc.
func caption(dc draw.Canvas, s string) {
	sty := style(captionSize, textGrey)
	sty.YAlign = text.YTop
	y := dc.Min.Y + captionHeight(s, dc.Size().X) - margin/2
	for _, line := range wrap(s, sty, captionWidth(dc.Size().X)) {
		dc.FillText(sty, vg.Point{X: dc.Min.X + margin, Y: y}, line)
		y -= lineHeight(captionSize)
	}
}

const (
	captionSize = vg.Length(10)
	margin      = vg.Length(8)
)

func lineHeight(size vg.Length) vg.Length { return size * 1.35 }

// thousands formats n with a comma every three digits: 12,345.
func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// kTicks puts about six labelled ticks on an axis of counts, at steps of
// 1, 2 or 5 times a power of ten, labelled 10k, 20k... from 10,000 up.
type kTicks struct{}

func (kTicks) Ticks(lo, hi float64) []plot.Tick { return niceTicks(lo, hi, 6) }

// ticksOf returns a ticker of about n labelled ticks (see niceTicks).
func ticksOf(n int) plot.Ticker {
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick { return niceTicks(lo, hi, n) })
}

// niceTicks returns about n labelled ticks from lo to hi, at steps of 1,
// 2 or 5 times a power of ten, and at least 1 (the axes count things or
// milliseconds); labels from 10,000 up read 10k, 20k...
func niceTicks(lo, hi float64, n int) []plot.Tick {
	if hi <= lo {
		return nil
	}
	raw := (hi - lo) / float64(n)
	step := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*step >= raw {
			step *= m
			break
		}
	}
	step = max(step, 1)
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		if v == 0 {
			v = 0 // not -0
		}
		label := thousands(v)
		if hi >= 10000 && v != 0 {
			label = strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: label})
	}
	return ticks
}

// titleSize is the size of a chart's title, drawn by title.
const titleSize = vg.Length(13)

func titleHeight() vg.Length { return lineHeight(titleSize) + margin }

// title writes s centred at the top of dc.
func title(dc draw.Canvas, s string) {
	sty := style(titleSize, black)
	sty.XAlign, sty.YAlign = text.XCenter, text.YTop
	dc.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - margin/2}, s)
}

// legendEntry is a swatch (fill) or a line sample (line) and its label.
type legendEntry struct {
	label string
	fill  color.Color
	line  *draw.LineStyle
}

// The legend: its entries in rows across the top of the chart.
const (
	legendSize   = vg.Length(10)
	swatch       = vg.Length(10)
	lineSample   = vg.Length(24)
	legendGap    = vg.Length(14)
	legendIndent = vg.Length(50)
)

func (e legendEntry) width(sty text.Style) vg.Length {
	w := swatch
	if e.line != nil {
		w = lineSample
	}
	return w + 4 + sty.Width(e.label)*fontSlack + legendGap
}

// fontSlack widens measured text where other text follows it on a line:
// a browser without Liberation Sans or Arial draws it in a wider font.
const fontSlack = 1.08

// legendRows places the entries in rows no wider than the chart.
func legendRows(es []legendEntry) [][]legendEntry {
	sty := style(legendSize, black)
	var rows [][]legendEntry
	var row []legendEntry
	x := legendIndent
	for _, e := range es {
		w := e.width(sty)
		if len(row) > 0 && x+w > Width-margin {
			rows = append(rows, row)
			row, x = nil, legendIndent
		}
		row = append(row, e)
		x += w
	}
	return append(rows, row)
}

func legendHeight(es []legendEntry) vg.Length {
	return vg.Length(len(legendRows(es)))*lineHeight(legendSize)*1.2 + margin
}

// legend draws es from the top of dc.
func legend(dc draw.Canvas, es []legendEntry) {
	sty := style(legendSize, black)
	sty.YAlign = text.YCenter
	y := dc.Max.Y - margin - lineHeight(legendSize)/2
	for _, row := range legendRows(es) {
		x := dc.Min.X + legendIndent
		for _, e := range row {
			w := swatch
			if e.line != nil {
				w = lineSample
				dc.SetLineStyle(*e.line)
				var p vg.Path
				p.Move(vg.Point{X: x, Y: y})
				p.Line(vg.Point{X: x + w, Y: y})
				dc.Stroke(p)
			} else {
				r := vg.Rectangle{Min: vg.Point{X: x, Y: y - swatch/2}, Max: vg.Point{X: x + swatch, Y: y + swatch/2}}
				dc.SetColor(e.fill)
				dc.Fill(r.Path())
				dc.SetLineStyle(draw.LineStyle{Color: textGrey, Width: 0.5})
				dc.Stroke(r.Path())
			}
			dc.FillText(sty, vg.Point{X: x + w + 4, Y: y}, e.label)
			x += e.width(sty)
		}
		y -= lineHeight(legendSize) * 1.2
	}
}
