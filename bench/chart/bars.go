package chart

import (
	"errors"
	"fmt"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Bench is the result of the side-by-side benchmark: requests per second
// of each contender in each scenario.
type Bench struct {
	Machine    string      `json:"machine"`    // CPU, cores, kernel: what the figures depend on
	Date       string      `json:"date"`       // when the run started, e.g. "2026-11-30 18:44 UTC"
	Load       string      `json:"load"`       // how the load was made, e.g. "wrk -t1 -c64, 3 rounds of 5 s, medians"
	Limit      string      `json:"limit"`      // the Key of the contender drawn as the limit in the scenarios whose Baseline it is
	Contenders []Contender `json:"contenders"` // in the order of the bars of each group
	Scenarios  []Scenario  `json:"scenarios"`  // in the order of the groups
}

// Contender is one bar of each group.
type Contender struct {
	Key   string `json:"key"`   // as loadgen's -contenders names it
	Label string `json:"label"` // in the legend
}

// Scenario is one group of bars.
type Scenario struct {
	Key      string    `json:"key"`      // as loadgen's -scenarios names it
	Label    string    `json:"label"`    // under the group; "\n" breaks it
	Baseline string    `json:"baseline"` // the Key of the contender the others are compared with
	RPS      []float64 `json:"rps"`      // requests/s of each contender, as Bench.Contenders; 0: not measured
}

func (*Bench) kind() string { return KindBench }

func (b *Bench) check() error {
	if len(b.Contenders) == 0 || len(b.Scenarios) == 0 {
		return errors.New("no contender or no scenario")
	}
	if len(b.Contenders) > len(bars) {
		return fmt.Errorf("%d contenders: the chart has colours for %d", len(b.Contenders), len(bars))
	}
	for _, s := range b.Scenarios {
		if len(s.RPS) != len(b.Contenders) {
			return fmt.Errorf("scenario %s: %d values for %d contenders", s.Key, len(s.RPS), len(b.Contenders))
		}
	}
	return nil
}

// index returns the index of the contender key, or -1.
func (b *Bench) index(key string) int {
	for i, c := range b.Contenders {
		if c.Key == key && key != "" {
			return i
		}
	}
	return -1
}

// SVG draws grouped bars: a group per scenario, a bar per contender, and
// the limit contender's value as a dashed line across the groups whose
// baseline it is.
func (b *Bench) SVG() ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	p := newPlot()
	p.Y.Label.Text = "requests/s"
	p.Y.Tick.Marker = kTicks{}
	p.Y.Min = 0
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	grid.Horizontal.Color = gridGrey
	p.Add(grid)

	n := len(b.Contenders)
	groups := len(b.Scenarios)
	// Each group has a unit of the x axis, about 640/groups pt wide, and
	// its bars fill 80% of it.
	p.X.Min, p.X.Max = -0.5, float64(groups)-0.5
	barW := vg.Length(640/groups) * 0.8 / vg.Length(n)
	var labels []string
	for _, s := range b.Scenarios {
		labels = append(labels, s.Label)
	}
	p.NominalX(labels...)
	var top float64
	for ci := range b.Contenders {
		vals := make(plotter.Values, groups)
		for si, s := range b.Scenarios {
			vals[si] = s.RPS[ci]
			top = max(top, s.RPS[ci])
		}
		bc, err := plotter.NewBarChart(vals, barW)
		if err != nil {
			return nil, err
		}
		bc.Color = bars[ci]
		bc.LineStyle.Width = 0.5
		bc.LineStyle.Color = textGrey
		bc.Offset = (vg.Length(ci) - vg.Length(n-1)/2) * barW
		p.Add(bc)
	}
	p.Y.Max = top * 1.05
	entries := b.legendEntries()
	if li := b.index(b.Limit); li >= 0 {
		lim := make([]float64, groups)
		for si, s := range b.Scenarios {
			if s.Baseline == b.Limit {
				lim[si] = s.RPS[li]
			}
		}
		p.Add(limitMarks{values: lim, half: barW * vg.Length(n) / 2 * 1.08})
		entries = append(entries, legendEntry{label: "the limit: " + b.Contenders[li].Label, line: &limitLine})
	}

	capText := b.caption()
	legendH := legendHeight(entries)
	capH := captionHeight(capText, Width)
	height := titleHeight() + legendH + 330 + capH
	return svgOf(Width, height, func(dc draw.Canvas) {
		title(dc, "Requests per second, by scenario (higher is better)")
		legend(draw.Crop(dc, 0, 0, 0, -titleHeight()), entries)
		caption(dc, capText)
		p.Draw(draw.Crop(dc, 0, -8, capH, -titleHeight()-legendH))
	})
}

var limitLine = draw.LineStyle{Color: black, Width: 1.5, Dashes: []vg.Length{4, 2}}

func (b *Bench) caption() string {
	var parts []string
	if li := b.index(b.Limit); li >= 0 {
		parts = append(parts, fmt.Sprintf("The dashed line is %s, the limit of a Redis session store, in the scenarios that read Redis.", b.Contenders[li].Label))
	}
	parts = append(parts, b.ratios()...)
	parts = append(parts, strings.TrimSpace(fmt.Sprintf("%s. %s, %s.", b.Load, b.Machine, b.Date)))
	return strings.Join(parts, " ")
}

// ratios returns a sentence with stickless's ratio to each scenario's
// baseline, where both were measured, grouped by baseline: "stickless:
// read 0.75×, write 0.53× rueidis by hand; forged cookie 0.88× bare".
func (b *Bench) ratios() []string {
	si := b.index("stickless")
	if si < 0 {
		return nil
	}
	var order []int              // baselines, in the order they first appear
	byBase := map[int][]string{} // baseline -> "read 0.75×"...
	for _, s := range b.Scenarios {
		bi := b.index(s.Baseline)
		if bi < 0 || bi == si || s.RPS[bi] <= 0 || s.RPS[si] <= 0 {
			continue
		}
		if _, ok := byBase[bi]; !ok {
			order = append(order, bi)
		}
		byBase[bi] = append(byBase[bi], fmt.Sprintf("%s %.2f×", strings.ReplaceAll(s.Label, "\n", " "), s.RPS[si]/s.RPS[bi]))
	}
	if len(order) == 0 {
		return nil
	}
	var groups []string
	for _, bi := range order {
		groups = append(groups, strings.Join(byBase[bi], ", ")+" "+b.Contenders[bi].Label)
	}
	return []string{fmt.Sprintf("%s against the baseline: %s.", b.Contenders[si].Label, strings.Join(groups, "; "))}
}

func (b *Bench) legendEntries() []legendEntry {
	var es []legendEntry
	for i, c := range b.Contenders {
		es = append(es, legendEntry{label: c.Label, fill: bars[i]})
	}
	return es
}

// limitMarks draws a dashed line across each group at the limit's value.
type limitMarks struct {
	values []float64
	half   vg.Length // half the width of a line
}

func (l limitMarks) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	c.SetLineStyle(limitLine)
	for i, v := range l.values {
		if v <= 0 {
			continue
		}
		x, y := trX(float64(i)), trY(v)
		var path vg.Path
		path.Move(vg.Point{X: x - l.half, Y: y})
		path.Line(vg.Point{X: x + l.half, Y: y})
		c.Stroke(path)
	}
}
