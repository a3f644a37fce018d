# Progress of long engine calls as R conditions (cli messages), so that suppressMessages() and
# knitr handle them and verbose = FALSE silences them. The engine draws progress bars (tqdm) on
# Python's stderr; during the call they are relayed line by line (sigfactor.r.relay_stderr) to
# an R function that turns the bar's state into messages. Nothing reaches the console directly.

# Call `fun(progress)`, `progress` being the value for the engine's `progress` argument. With
# `verbose`, announce `label`, relay the engine's progress bars to `report` (a function of the
# bar's description, count and total that returns a message or NULL; see progress_reporter()),
# and pass other lines Python writes to stderr on as messages. Without `verbose`, the engine
# draws no bar.
with_progress <- function(verbose, label, fun, report = NULL) {
  if (!verbose) {
    return(fun(FALSE))
  }
  cli::cli_inform(c("i" = "{label} ..."))
  relay <- reticulate::import("sigfactor.r", convert = FALSE)$relay_stderr
  on_line <- function(line) {
    text <- progress_message(line, report)
    if (!is.null(text)) {
      cli::cli_inform(c(" " = "{text}"))
    }
    NULL
  }
  context <- relay(reticulate::py_func(on_line))
  context$`__enter__`()
  on.exit(context$`__exit__`(NULL, NULL, NULL), add = TRUE)
  fun(TRUE)
}

# The message for one line of Python's stderr: for a progress bar line ("desc: 40%|...| 4/10
# [...]"), what `report` makes of its description, count and total; other lines as they are.
progress_message <- function(line, report) {
  parts <- regmatches(line, regexec("^(.*?): *[0-9]+%\\|.*\\| *([0-9]+)/([0-9]+)", line))[[1]]
  if (length(parts) == 0) {
    return(line)
  }
  if (is.null(report)) {
    return(NULL)
  }
  report(parts[2], as.numeric(parts[3]), as.numeric(parts[4]))
}

# A `report` function for with_progress(), with its own memory of what it said:
# - "ranks": the bar counts restarts over `ranks` x `nrun`; one message per rank whose restarts
#   are all fitted ("rank 3 fitted (2 of 10 ranks)");
# - "stages": one message per new bar description (e.g. each model of a comparison).
progress_reporter <- function(mode = c("ranks", "stages"), ranks = NULL, nrun = NULL) {
  mode <- match.arg(mode)
  said <- new.env(parent = emptyenv())
  said$ranks <- 0
  said$stage <- ""
  function(description, n, total) {
    if (mode == "ranks") {
      finished <- min(floor(n / nrun), length(ranks))
      if (finished <= said$ranks) {
        return(NULL)
      }
      new <- ranks[seq(said$ranks + 1, finished)]
      said$ranks <- finished
      return(sprintf("rank %s fitted (%d of %d ranks)", paste(new, collapse = ", "), finished,
                     length(ranks)))
    }
    if (identical(description, said$stage)) {
      return(NULL)
    }
    said$stage <- description
    sprintf("fitting %s", description)
  }
}
