package chart

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Streams is the result of the long-connection run: how long each revoked
// user's event stream took to end after the logout was answered.
type Streams struct {
	Machine  string    `json:"machine"`
	Date     string    `json:"date"`
	Setup    string    `json:"setup"`     // e.g. "10,000 streams through nginx over 3 whatsup instances, held 60 s"
	Held     int       `json:"held"`      // streams held until the revoke
	Revoked  int       `json:"revoked"`   // users logged out everywhere
	EndMS    []float64 `json:"end_ms"`    // per stream that ended with "event: end": logout answer to end, ms
	Wrong    int       `json:"wrong"`     // streams of users not logged out that ended
	TargetMS float64   `json:"target_ms"` // every revoked stream should end within this
}

func (*Streams) kind() string { return KindStreams }

// percentile returns the p-th percentile (nearest rank) of sorted xs.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// SVG draws the cumulative distribution of the end times: the share of
// the streams that had ended by each time, with the p50 and p99 marked. A
// stream that ended before the logout's answer reached the client (its
// instance ended it at once) counts at 0.
func (s *Streams) SVG() ([]byte, error) {
	if len(s.EndMS) == 0 {
		return nil, errors.New("no stream ended: nothing to draw")
	}
	sorted := slices.Sorted(slices.Values(s.EndMS))
	early := 0
	for i, v := range sorted {
		if v < 0 {
			sorted[i] = 0
			early++
		}
	}
	p50, p99, worst := percentile(sorted, 50), percentile(sorted, 99), sorted[len(sorted)-1]

	p := newPlot()
	p.X.Tick.Marker, p.Y.Tick.Marker = ticksOf(8), ticksOf(5)
	p.X.Label.Text = "milliseconds from the logout's answer to the stream's \"event: end\""
	p.Y.Label.Text = "% of the streams ended"
	p.X.Min, p.Y.Min, p.Y.Max = 0, 0, 100
	p.X.Max = max(worst*1.05, 10)
	grid := plotter.NewGrid()
	grid.Vertical.Color = gridGrey
	grid.Horizontal.Color = gridGrey
	p.Add(grid)
	// A step up at each end: (t, share before), (t, share after).
	n := float64(len(sorted))
	steps := plotter.XYs{{X: 0, Y: 0}}
	for i, v := range sorted {
		steps = append(steps, plotter.XY{X: v, Y: 100 * float64(i) / n}, plotter.XY{X: v, Y: 100 * float64(i+1) / n})
	}
	line, err := plotter.NewLine(steps)
	if err != nil {
		return nil, err
	}
	line.LineStyle = draw.LineStyle{Color: navy, Width: 2}
	p.Add(line)
	p.Add(
		markLine{x: p50, label: fmt.Sprintf("p50 %.0f ms", p50), style: draw.LineStyle{Color: red, Width: 1.5, Dashes: []vg.Length{5, 3}}, row: 1},
		markLine{x: p99, label: fmt.Sprintf("p99 %.0f ms", p99), style: draw.LineStyle{Color: black, Width: 1.5, Dashes: []vg.Length{1.5, 2}}, row: 2},
	)

	within := 0
	for _, v := range s.EndMS {
		if s.TargetMS <= 0 || v <= s.TargetMS {
			within++
		}
	}
	capText := fmt.Sprintf("%s. %s of the %s streams of the users logged out everywhere ended with \"event: end\"",
		s.Setup, thousands(float64(len(s.EndMS))), thousands(float64(s.Revoked)))
	if early > 0 {
		capText += fmt.Sprintf(", %s of them before the logout's answer reached the client (drawn at 0 ms: their instance ended them at once)", thousands(float64(early)))
	}
	capText += fmt.Sprintf("; the slowest after %.0f ms", worst)
	if s.TargetMS > 0 {
		capText += fmt.Sprintf("; %s within the target of %.0f s", thousands(float64(within)), s.TargetMS/1000)
	}
	capText += fmt.Sprintf(". Streams of other users ended meanwhile: %d. %s, %s.", s.Wrong, s.Machine, s.Date)
	capH := captionHeight(capText, Width)
	height := titleHeight() + 280 + capH
	return svgOf(Width, height, func(dc draw.Canvas) {
		title(dc, "From a user's logout to the end of its event stream")
		caption(dc, capText)
		p.Draw(draw.Crop(dc, 0, -8, capH, -titleHeight()))
	})
}

// markLine is a vertical line at x across the plot, labelled at its top
// (row 0) or one text line below (row 1), so that close lines keep their
// labels apart.
type markLine struct {
	x     float64
	label string
	style draw.LineStyle
	row   int
}

func (m markLine) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(m.x)
	c.SetLineStyle(m.style)
	var path vg.Path
	path.Move(vg.Point{X: x, Y: c.Min.Y})
	path.Line(vg.Point{X: x, Y: c.Max.Y})
	c.Stroke(path)
	sty := style(10, black)
	sty.YAlign = text.YTop
	// Right of the line, or left of it when it is near the right edge.
	if x+4+sty.Width(m.label) > c.Max.X {
		sty.XAlign = text.XRight
		x -= 4
	} else {
		x += 4
	}
	y := c.Max.Y - 2 - vg.Length(m.row)*lineHeight(10)
	c.FillText(sty, vg.Point{X: x, Y: y}, m.label)
}
