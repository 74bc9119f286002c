/** An SVG rendered to PNG with resvg (the charts of bench/report.ts and bench/curves); the SVG itself when resvg cannot. */
import { writeFileSync } from "node:fs";

/** Writes `file` (a .png) and returns the file written: the PNG, or the .svg beside it if rendering failed. */
export async function writePng(svg: string, file: string): Promise<string> {
  try {
    const { Resvg } = await import("@resvg/resvg-js");
    const rendered = new Resvg(svg, {
      background: "white",
      fitTo: { mode: "zoom", value: 2 },
      font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
    });
    writeFileSync(file, rendered.render().asPng());
    return file;
  } catch (err) {
    const svgFile = file.replace(/\.png$/, ".svg");
    writeFileSync(svgFile, svg);
    console.warn(`could not render ${file} (${(err as Error).message}); wrote ${svgFile} instead`);
    return svgFile;
  }
}
