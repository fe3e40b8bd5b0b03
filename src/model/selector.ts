/**
 * A selector picks series by label matchers, as in Prometheus. The metric name is the label
 * `__name__`; `cpu.usage{host="h1"}` is the selector
 * [{name:'__name__',op:'=',value:'cpu.usage'}, {name:'host',op:'=',value:'h1'}].
 * All matchers must hold (AND). Regular expressions are anchored (match the whole value).
 * Parsing lives in src/query/selectors.ts; matching series lives in src/storage/series-index.ts.
 */
export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  name: string;
  op: MatchOp;
  value: string;
}

export type Selector = readonly LabelMatcher[];

export const NAME_LABEL = '__name__';
