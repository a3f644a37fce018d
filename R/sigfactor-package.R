#' sigfactor: mutational signature extraction with NMF, convex NMF and AE-NMF
#'
#' A thin R interface to the 'sigfactor' Python engine. Each function checks its arguments,
#' converts R matrices (mutation types x samples, labelled) for the engine, makes one call into
#' it, and rebuilds the results as labelled R matrices in the layout of 'MutationalPatterns'.
#' The engine is imported on first use; \code{\link{sigfactor_config}} reports what was found.
#'
#' @keywords internal
"_PACKAGE"
