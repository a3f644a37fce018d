# Progress of long engine calls as R conditions (cli), so that suppressMessages() and knitr
# handle them; verbose = FALSE silences them.

# Call `fun(progress)` where `progress` is what the engine's `progress` argument gets (FALSE:
# the engine's own bar, which writes to Python's stderr, is always off), announcing the work
# with `label` when `verbose`.
with_progress <- function(verbose, label, fun) {
  if (verbose) {
    cli::cli_inform(c("i" = "{label} ..."))
  }
  fun(FALSE)
}
