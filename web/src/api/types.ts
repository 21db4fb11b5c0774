// Shapes of the Plansmith HTTP API, taken from the types generated from its OpenAPI document
// (schema.gen.ts; `npm run api:types` regenerates it, `npm run api:check` proves it current).
// Write no API shape by hand that the document describes; where the document falls short, fix
// the document. Nothing here is hand-written today. The events of a reply's stream are not in
// the document (to it the stream is text): api/events.ts mirrors them from the domain crate by
// hand.

import type { components } from './schema.gen';

type Schemas = components['schemas'];

export type User = Schemas['UserView'];
export type AuthResponse = Schemas['AuthResponse'];
export type LoginRequest = Schemas['LoginRequest'];
export type RegisterRequest = Schemas['RegisterRequest'];
export type PasswordChange = Schemas['PasswordChange'];
export type SignIn = Schemas['SignInView'];
export type SignInList = Schemas['SignInList'];
export type PasswordResetRequest = Schemas['PasswordResetRequest'];
export type PasswordResetConfirm = Schemas['PasswordResetConfirm'];
export type VerifyEmailRequest = Schemas['VerifyEmailRequest'];
export type MfaStatus = Schemas['MfaStatus'];
export type TotpEnrolment = Schemas['TotpEnrolment'];
export type TotpCode = Schemas['TotpCode'];
export type DisableTotp = Schemas['DisableTotp'];
export type AccountErasure = Schemas['AccountErasure'];
export type Consents = Schemas['Consents'];
export type Consent = Schemas['ConsentView'];
export type ConsentNotice = Schemas['Notice'];
export type ConsentChange = Schemas['ConsentChange'];
export type AuditEntry = Schemas['AuditEntryView'];
export type AuditList = Schemas['AuditList'];
export type MyBilling = Schemas['MyBilling'];
export type Subscription = Schemas['SubscriptionView'];
export type CheckoutRequest = Schemas['CheckoutRequest'];
export type RedirectUrl = Schemas['RedirectUrl'];

export type Workflow = Schemas['WorkflowView'];
export type WorkflowList = Schemas['WorkflowList'];
export type StepDef = Schemas['StepView'];
export type SectionDef = Schemas['SectionView'];

export type Session = Schemas['SessionView'];
export type SessionList = Schemas['SessionList'];
export type CreateSession = Schemas['CreateSession'];
export type RenameSession = Schemas['RenameSession'];
export type StepProgress = Schemas['StepProgress'];

export type Message = Schemas['MessageView'];
export type MessageList = Schemas['MessageList'];
export type PostMessage = Schemas['PostMessage'];
export type PostMessageResponse = Schemas['PostMessageResponse'];
export type ReplyRef = Schemas['ReplyRef'];

export type DocumentSummary = Schemas['DocumentSummaryView'];
export type DocumentList = Schemas['DocumentList'];
export type PlanDocument = Schemas['DocumentView'];
export type SectionContent = Schemas['SectionContent'];
export type EditSection = Schemas['EditSection'];
export type RestoreRequest = Schemas['RestoreRequest'];
export type Revision = Schemas['RevisionView'];
export type RevisionList = Schemas['RevisionList'];
export type RevisionResponse = Schemas['RevisionResponse'];
export type RatingRequest = Schemas['RatingRequest'];
export type RatingView = Schemas['RatingView'];
export type SurveyRequest = Schemas['SurveyRequest'];
export type SurveyView = Schemas['SurveyView'];

export type RumMetric = Schemas['RumMetric'];
export type RumReport = Schemas['RumReport'];
export type FlagEvaluationRequest = Schemas['EvaluationRequest'];
/** `value` is typed as an object by the document; it is a boolean or a variant's name. */
export type FlagEvaluation = Schemas['EvaluationSuccess'];
export type BulkFlagEvaluation = Schemas['BulkEvaluation'];
export type ClientErrorReport = Schemas['ClientErrorReport'];
export type ApiErrorBody = Schemas['ErrorBody'];
export type About = Schemas['About'];

// The admin console.
export type ProviderList = Schemas['ProviderList'];
export type Provider = Schemas['ProviderView'];
export type UsageReport = Schemas['UsageReport'];
export type UsageRow = Schemas['UsageRow'];
export type AccountList = Schemas['AccountList'];
export type Account = Schemas['AccountView'];
export type AccountChange = Schemas['AccountChange'];
export type RevokedSignIns = Schemas['RevokedSignIns'];
export type FlagList = Schemas['FlagList'];
export type Flag = Schemas['FlagView'];
export type ErrorGroupList = Schemas['ErrorGroupList'];
export type ErrorGroup = Schemas['ErrorGroupView'];
export type SecurityEventList = Schemas['SecurityEventList'];
export type SecurityEvent = Schemas['SecurityEventView'];
export type SecurityEventKind = Schemas['SecurityEventKind'];
export type EmailList = Schemas['EmailList'];
export type ClientKeyList = Schemas['ClientKeyList'];
export type ClientKey = Schemas['ClientKeyView'];
export type NewClientKey = Schemas['NewClientKey'];
export type IssuedClientKey = Schemas['IssuedClientKey'];
export type Email = Schemas['EmailView'];
// Business analytics (the Business page of the admin console).
export type MrrReport = Schemas['MrrReport'];
export type CurrencyMrr = Schemas['CurrencyMrr'];
export type MrrMonth = Schemas['MrrMonth'];
export type MrrCohort = Schemas['MrrCohort'];
export type ForecastReport = Schemas['ForecastReport'];
export type CurrencyForecast = Schemas['CurrencyForecast'];
export type ForecastMonth = Schemas['ForecastMonth'];
export type Backtest = Schemas['BacktestView'];
export type FunnelReport = Schemas['FunnelReport'];
export type FunnelStage = Schemas['FunnelStage'];
export type RetentionReport = Schemas['RetentionReport'];
export type RetentionCohort = Schemas['RetentionCohort'];
export type QualityReport = Schemas['QualityReport'];
export type RatingGroup = Schemas['RatingGroup'];
export type CsatGroup = Schemas['CsatGroup'];
export type TimeToPlanMeasure = Schemas['TimeToPlanMeasure'];
export type ProductUsageReport = Schemas['ProductUsageReport'];
export type FeatureUsage = Schemas['FeatureUsage'];
export type DailyActive = Schemas['DailyActive'];
