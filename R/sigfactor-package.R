#' sigfactor: mutational signature extraction with NMF, convex NMF and AE-NMF
#'
#' An R interface to the 'sigfactor' Python engine. Each function checks its arguments,
#' converts R matrices, data frames or SummarizedExperiment objects (mutation types x samples,
#' labelled) for the engine, makes one call into it, and rebuilds the results as labelled R
#' objects in the layout of 'MutationalPatterns'. The engine is imported on first use;
#' \code{\link{sigfactor_config}} reports what was found and \code{\link{install_sigfactor}}
#' installs it.
#'
#' The main functions: \code{\link{denovo_signatures}} (de novo extraction with rank
#' selection and COSMIC decomposition), \code{\link{factorize_signatures}} (one rank),
#' \code{\link{refit_signatures}}, \code{\link{cosmic_signatures}},
#' \code{\link{compare_models}}, \code{\link{read_catalogue}},
#' \code{\link{read_extraction}}, \code{\link{write_anndata}} and
#' \code{\link{read_anndata}}. The vignette (\code{vignette("sigfactor")}) tells one analysis
#' end to end.
#'
#' @keywords internal
"_PACKAGE"
