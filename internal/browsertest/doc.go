// Package browsertest drives two nodes' web interfaces in headless
// Chromium (chromedp): contacts, presence, a call answered in the page,
// hang-up and history, with screenshots in bin/ui-screens/.
package browsertest
