#' COSMIC v3.4 reference signatures
#'
#' The COSMIC Mutational Signatures v3.4 bundled with the engine
#' (\code{sigfactor.reference.cosmic}), as a numeric matrix with mutation types as rows, in
#' MutationalPatterns' labels and row order, and signatures as columns: ready for
#' \code{MutationalPatterns::fit_to_signatures}, \code{\link{refit_signatures}},
#' \code{MutationalPatterns::cos_sim_matrix} and the \code{reference} argument of
#' \code{\link{denovo_signatures}}.
#'
#' @param kind \code{"SBS96"}, \code{"DBS78"} or \code{"ID83"}.
#' @param build \code{"GRCh37"} or \code{"GRCh38"} (DBS78 and ID83: GRCh37 only).
#' @param exome \code{TRUE} for the exome-normalised SBS96 signatures (GRCh37).
#' @param style Row labels and order: \code{"mutationalpatterns"} or \code{"sigprofiler"}
#'   (see \code{\link{mutation_types}}).
#'
#' @return A numeric matrix, mutation types x signatures (\code{SBS1}, \code{SBS2}, ...),
#'   each column summing to 1 (as COSMIC publishes them, to rounding).
#'
#' @references Alexandrov, L.B. et al. (2020) The repertoire of mutational signatures in human
#'   cancer. Nature 578, 94-101. COSMIC Mutational Signatures v3.4, as shipped in
#'   SigProfilerAssignment 1.1.5 (BSD-2-Clause).
#' @seealso \code{\link{refit_signatures}}, \code{\link{denovo_signatures}}
#' @examples
#' if (sigfactor_available()) {
#'   sbs <- cosmic_signatures()
#'   dim(sbs)
#'   sbs[1:3, c("SBS1", "SBS5")]
#'   dim(cosmic_signatures("ID83"))
#' }
#' @export
cosmic_signatures <- function(kind = c("SBS96", "DBS78", "ID83"), build = c("GRCh37", "GRCh38"),
                              exome = FALSE, style = c("mutationalpatterns", "sigprofiler")) {
  kind <- match_choice(kind)
  build <- match_choice(build)
  exome <- check_flag(exome, "exome")
  style <- match_choice(style)
  frame <- engine_call(engine()$reference$cosmic, build = build, kind = kind, exome = exome)
  from_engine(frame, rows = mutation_types(kind, style))
}
